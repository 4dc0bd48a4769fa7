import { openStore } from "@range/core";
import { runObjectStoreConformance } from "@range/conformance";
import "../src/index.js";

// Configured only through AZURE_STORAGE_CONNECTION_STRING (see env-setup.ts), as an application would be.
runObjectStoreConformance({
  name: "azure (Azurite)",
  create: () => openStore("az://range-conformance"),
  capabilities: { listPagination: true },
});
