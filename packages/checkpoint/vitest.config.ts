import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Starts SeaweedFS once for all test files (installing it on first use) and creates the bucket.
    globalSetup: ["test/global-setup.ts"],
    // Points the AWS_* variables of each test worker at that server.
    setupFiles: ["test/env-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
});
