import { inject } from "vitest";

// The SDK's usual variable, so `openStore("az://...")` with no options reaches the test server.
process.env.AZURE_STORAGE_CONNECTION_STRING = inject("azure").connectionString;
for (const name of ["AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN"]) delete process.env[name];
