export { runCli } from "./run.js";
export type { CliIo, GlobalOptions } from "./context.js";
export { ExitCode } from "./errors.js";
export { parseLocation, type Location } from "./location.js";
export { formatSize, parseSize } from "./sizes.js";
export { parseDuration } from "./duration.js";
