#!/usr/bin/env node
import { installSeaweedFs } from "./seaweedfs/install.js";
import { startSeaweedFs, startSeaweedFsCluster } from "./seaweedfs/server.js";

const usage = `usage: range-test-servers install seaweedfs
       range-test-servers seaweedfs [--cluster] [--volumes N] [--bucket NAME]...   (runs until Ctrl-C)`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === "install" && rest[0] === "seaweedfs") {
    const install = await installSeaweedFs();
    console.log(JSON.stringify(install));
    return;
  }
  if (command === "seaweedfs") {
    const buckets: string[] = [];
    let cluster = false;
    let volumes = 3;
    for (let i = 0; i < rest.length; i++) {
      if (rest[i] === "--cluster") cluster = true;
      else if (rest[i] === "--volumes") volumes = Number(rest[++i]);
      else if (rest[i] === "--bucket") buckets.push(rest[++i]!);
      else throw new Error(usage);
    }
    const server = cluster ? await startSeaweedFsCluster({ volumes, buckets }) : await startSeaweedFs({ buckets });
    for (const [name, value] of Object.entries(server.env())) console.log(`export ${name}=${value}`);
    console.log(`# data and logs: ${server.dataDir}; Ctrl-C stops`);
    const stop = () => void server.stop().then(() => process.exit(0));
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    setInterval(() => {}, 1 << 30);
    return;
  }
  throw new Error(usage);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error((error as Error).message ?? error);
  process.exit(1);
});
