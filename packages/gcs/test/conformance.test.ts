import { createObjectStore } from "@range/core";
import { runObjectStoreConformance } from "@range/conformance";
import { GcsDriver } from "../src/index.js";

// Configured only through STORAGE_EMULATOR_HOST (see env-setup.ts), as an application would be. Stores are built from
// the driver so the kit can check that aborted reads leave no request running.
const drivers: GcsDriver[] = [];
runObjectStoreConformance({
  name: "gcs (fake-gcs-server)",
  create: async () => {
    const driver = new GcsDriver({ bucket: "range-conformance" });
    drivers.push(driver);
    return createObjectStore(driver);
  },
  capabilities: { listPagination: true },
  inFlight: () => drivers.reduce((sum, driver) => sum + driver.inFlight, 0),
});
