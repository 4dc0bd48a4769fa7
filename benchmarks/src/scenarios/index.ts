import type { Scenario } from "../lib/types.js";
import { directio } from "./directio.js";
import { datagenScenario } from "./datagen.js";
import { engineMemory1GiB } from "./engine-memory-1gib.js";
import { fileLarge } from "./file-large.js";
import { fileSmall } from "./file-small.js";
import { getScenario } from "./get.js";
import { hedge } from "./hedge.js";
import { loaderScenario } from "./loader.js";
import { oplogScenario } from "./oplog.js";
import { listScenario } from "./list.js";
import { planner } from "./planner.js";
import { putScenario } from "./put.js";
import { rangeScenario } from "./range.js";
import { streamScenario } from "./stream.js";
import { sweepsScenario } from "./sweeps.js";

/** Every scenario, in the order the runner runs them. New backends add a module here. */
export const scenarios: Scenario[] = [engineMemory1GiB, planner, fileLarge, fileSmall, directio, getScenario, rangeScenario, streamScenario, putScenario, listScenario, loaderScenario, sweepsScenario, hedge, datagenScenario, oplogScenario];
