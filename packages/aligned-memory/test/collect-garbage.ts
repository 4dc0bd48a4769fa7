import { setTimeout as sleep } from "node:timers/promises";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Collects garbage until the released buffers' finalizers ran (Node runs them on a later turn of the loop). */
export async function collectGarbage(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc();
    await sleep(5);
  }
}
