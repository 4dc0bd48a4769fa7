import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Rebuilds the CLI when stale; starts SeaweedFS (installed on first use) for the s3:// tests.
    globalSetup: ["test/global-setup.ts", "test/s3-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 180_000,
  },
});
