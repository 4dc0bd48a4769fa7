import v8 from "node:v8";
import vm from "node:vm";

/**
 * Makes `global.gc` available without requiring `node --expose-gc`: scenarios call it (untimed) between
 * measurements so a 1 GiB buffer from the previous iteration is not collected inside the next timed region.
 * Returns how gc is available: "flag" (node was started with --expose-gc), "runtime" (enabled here), or "none".
 */
export function enableGc(): "flag" | "runtime" | "none" {
  const g = globalThis as { gc?: unknown };
  if (typeof g.gc === "function") return "flag";
  try {
    v8.setFlagsFromString("--expose-gc");
    const gc: unknown = vm.runInNewContext("gc");
    if (typeof gc === "function") {
      g.gc = gc;
      return "runtime";
    }
  } catch {
    // fall through: scenarios run without explicit collections
  }
  return "none";
}
