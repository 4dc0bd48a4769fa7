// Not a *.test.ts file: ../faults.test.ts runs it in a child vitest and reads the JSON report.
import { runObjectStoreConformance } from "../../src/index.js";
import { FAULTS, memory } from "./faulty-stores.js";

const capabilities = { largePutSize: false, defaultThresholdObjects: false } as const;

runObjectStoreConformance({ name: "fault: none (control)", create: async () => memory(), capabilities });

for (const fault of FAULTS) {
  runObjectStoreConformance({
    name: `fault: ${fault.id}`,
    create: async () => fault.make(memory()),
    capabilities,
    ...fault.options,
  });
}
