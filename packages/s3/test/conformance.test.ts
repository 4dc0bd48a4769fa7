import { openStore } from "@range/core";
import { runObjectStoreConformance } from "@range/conformance";
import "../src/index.js";

// Configured only through the AWS_* environment (see env-setup.ts), as an application would be.
runObjectStoreConformance({
  name: "s3 (SeaweedFS)",
  create: () => openStore("s3://range-conformance"),
  capabilities: { listPagination: true },
});
