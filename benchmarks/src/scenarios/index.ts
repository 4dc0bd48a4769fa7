import type { Scenario } from "../lib/types.js";
import { engineMemory1GiB } from "./engine-memory-1gib.js";
import { planner } from "./planner.js";

/** Every scenario, in the order the runner runs them. New backends add a module here. */
export const scenarios: Scenario[] = [engineMemory1GiB, planner];
