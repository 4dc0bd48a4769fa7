import type { Scenario } from "../lib/types.js";
import { directio } from "./directio.js";
import { engineMemory1GiB } from "./engine-memory-1gib.js";
import { fileLarge } from "./file-large.js";
import { fileSmall } from "./file-small.js";
import { hedge } from "./hedge.js";
import { loaderScenario } from "./loader.js";
import { planner } from "./planner.js";

/** Every scenario, in the order the runner runs them. New backends add a module here. */
export const scenarios: Scenario[] = [engineMemory1GiB, planner, fileLarge, fileSmall, directio, loaderScenario, hedge];
