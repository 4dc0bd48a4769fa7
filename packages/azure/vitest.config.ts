import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Starts Azurite once for all test files (installing it from npm on first use) and creates the containers.
    globalSetup: ["test/global-setup.ts"],
    // Points AZURE_STORAGE_CONNECTION_STRING of each test worker at that server.
    setupFiles: ["test/env-setup.ts"],
    testTimeout: 60_000,
    // The first run installs Azurite from npm (~1-2 minutes on a busy machine).
    hookTimeout: 900_000,
  },
});
