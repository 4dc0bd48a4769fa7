import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Starts fake-gcs-server once for all test files (installing it on first use) and creates the buckets.
    globalSetup: ["test/global-setup.ts"],
    // Points STORAGE_EMULATOR_HOST of each test worker at that server; never lets auth probe a metadata server.
    setupFiles: ["test/env-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
});
