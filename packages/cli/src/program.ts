import { readFileSync } from "node:fs";
import { Command, InvalidArgumentError, Option } from "commander";
import { redactSecrets } from "@range/core";
import { bench, type BenchOptions } from "./commands/bench.js";
import { mb, rb, type RbOptions } from "./commands/bucket.js";
import { completionScript } from "./commands/completion.js";
import { cp, type CpOptions } from "./commands/cp.js";
import { get, type GetCommandOptions } from "./commands/get.js";
import { ls, type LsOptions } from "./commands/ls.js";
import { parseGenerateSpec, parseRatio, putGenerated, type GenerateOptions } from "./commands/generate.js";
import { put } from "./commands/put.js";
import { parseSpeed, replay, type ReplayCommandOptions } from "./commands/replay.js";
import { rm, type RmOptions } from "./commands/rm.js";
import { stat } from "./commands/stat.js";
import { CommandContext, type CliIo, type GlobalOptions } from "./context.js";
import { UsageError } from "./errors.js";
import { parseDuration } from "./duration.js";
import { parseSize } from "./sizes.js";

const VERSION = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;

/** Turns a parser's TypeError into commander's "invalid argument" (a usage error, exit 2). */
function argument<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
  };
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw new TypeError(`expected a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

function nonNegativeInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new TypeError(`expected a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

const size = argument(parseSize);
const count = argument(positiveInteger);
const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  ${l}`).join("\n")}\n`;
}

type Action<O> = (ctx: CommandContext, args: (string | undefined)[], options: O) => Promise<number>;

export interface ProgramHooks {
  io: CliIo;
  signal: AbortSignal;
  /** Receives the exit code of the command that ran. */
  setExitCode(code: number): void;
}

/** The `range` command tree. Every command shares the global options (defined once, on the program). */
export function createProgram(hooks: ProgramHooks): Command {
  const { io, signal } = hooks;
  const program = new Command("range");

  const run = <O extends object = Record<string, never>>(action: Action<O>) => async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const positional = args.slice(0, -2) as (string | undefined)[];
    const ctx = new CommandContext(io, command.optsWithGlobals<GlobalOptions>(), signal);
    try {
      hooks.setExitCode(await action(ctx, positional, command.opts<O>()));
    } finally {
      await ctx.close();
    }
  };

  program
    .description(
      "Fast copies and listings on every @range backend: file://, directio://, memory://, and s3://, az://, gs:// when their packages are installed.\n" +
        "A location is a URI (scheme://bucket/key, a trailing \"/\" names a prefix), a local path, or \"-\" for stdin/stdout.",
    )
    .version(VERSION, "-V, --version", "print the version")
    .helpOption("-h, --help", "show help")
    .helpCommand("help [command]", "show help for a command")
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => void io.stderr.write(text),
      // Commander's parse errors as our one line: "range: <message>".
      outputError: (text, write) => write(`range: ${redactSecrets(text.replace(/^error:\s*/, "").trim())} (see --help)\n`),
    })
    .addOption(new Option("--chunk-size <size>", "largest range per request, e.g. 8MiB (default: the store's, 64 MiB)").argParser(size))
    .addOption(new Option("--concurrency <n>", "ranges in flight per object (default 32)").argParser(count))
    .addOption(
      new Option("--timeout <duration>", 'abort and retry a range that makes no progress this long, e.g. 30s, 2m, "off" (default 30s)').argParser(
        argument(parseDuration),
      ),
    )
    .option("--json", "machine-readable output: one JSON document on stdout, no progress bar")
    .option("-q, --quiet", "print nothing but errors (and the data of get -)")
    .option("--no-progress", "never draw a progress bar (it is drawn only on a terminal, after 0.5 s)")
    .option("--endpoint <url>", "service endpoint for S3-compatible and other network backends (overrides the environment)")
    .option("--debug", "print stack traces with errors")
    .option("--oplog <file>", "record every storage operation to FILE: TSV in warp's layout (*.tsv.gz: gzip), or JSON lines (*.jsonl[.gz])")
    .addHelpText(
      "after",
      `${examples([
        "range ls -lh s3://bucket/data/",
        "range cp -r --include '*.tar' s3://bucket/train/ /data/train/ --jobs 8",
        "range get --chunk-size 16MiB --concurrency 64 gs://bucket/big.bin /tmp/",
        "range put model.safetensors az://container/models/",
        "range bench file:///mnt/nvme/",
      ])}
Exit codes: 0 ok, 1 failure, 2 usage error, 3 not found, 130 interrupted (Ctrl-C).
Environment: each backend reads its SDK's usual variables (AWS_ENDPOINT_URL, AWS_REGION, credentials chain;
AZURE_STORAGE_CONNECTION_STRING; STORAGE_EMULATOR_HOST). Shell completion: source <(range completion bash)
`,
    );

  const selection = (command: Command) =>
    command
      .option("--include <glob>", "only keys matching the glob (repeatable; no \"/\" = match the name at any depth)", collect)
      .option("--exclude <glob>", "skip keys matching the glob (repeatable)", collect);

  const lsCommand = (name: string, deprecated: boolean) => {
    const command = program
      .command(name, { hidden: deprecated })
      .description(deprecated ? 'deprecated alias of "ls"' : 'list objects and prefixes (one level; -r for everything below; "list" is a deprecated alias)')
      .argument("<uri>", "a prefix (or one object); a scheme alone (s3://, gs://, az://) lists the buckets")
      .option("-r, --recursive", "every object below the prefix, not just one level")
      .option("-l, --long", "long format: size, last-modified (UTC), key")
      .option("-h, --human-readable", "sizes in KiB/MiB/GiB (implies -l)")
      // -h is --human-readable here, as in ls(1) and du(1).
      .helpOption("--help", "show help");
    selection(command)
      .addHelpText(
        "after",
        examples([
          "range ls /data/                      # one level: PRE sub/ and object names",
          "range ls -rlh s3://bucket/train/     # everything below, with human sizes",
          "range ls -r --include '*.tar' --json gs://bucket/shards/",
          "range ls -l s3://                    # the buckets, with creation dates",
        ]),
      )
      .action(
        run<LsOptions>((ctx, [uri], o) => {
          if (deprecated) io.stderr.write('range: "list" is deprecated; use "ls"\n');
          return ls(ctx, uri!, o);
        }),
      );
  };
  lsCommand("ls", false);

  program
    .command("stat")
    .description("show one object's size, etag and last-modified time")
    .argument("<uri>", "the object")
    .addHelpText("after", examples(["range stat s3://bucket/data/shard-0001.tar", "range stat --json ./model.bin"]))
    .action(run((ctx, [uri]) => stat(ctx, uri!)));

  program
    .command("get")
    .description("download an object to a local file (temp file + rename: never a partial file), or to stdout")
    .argument("<uri>", "the object (the prefix the keys are relative to, with --keys-from)")
    .argument("[dest]", 'local file or directory (default: the key\'s name in the current directory); "-" = stdout')
    .addOption(new Option("--offset <bytes>", "first byte of a byte range (sizes like 4MiB work)").argParser(argument(parseSize)))
    .addOption(new Option("--length <bytes>", "length of the byte range (default: to the end)").argParser(argument(parseSize)))
    .option("--keys-from <file>", 'download the keys listed in FILE (one per line, relative to <uri>; "-" = stdin) into dest/')
    .addOption(new Option("-j, --jobs <n>", "objects downloaded at once with --keys-from").argParser(count).default(4))
    .addHelpText(
      "after",
      examples([
        "range get s3://bucket/data/big.bin                 # → ./big.bin",
        "range get s3://bucket/data/big.bin /tmp/           # → /tmp/big.bin",
        "range get s3://bucket/log.txt - | head",
        "range get --offset 1MiB --length 4096 file:///data/x.bin - | xxd",
        "range get --keys-from keys.txt s3://bucket/train/ ./train/",
      ]),
    )
    .action(run<GetCommandOptions>((ctx, [uri, dest], o) => get(ctx, uri!, dest, o)));

  program
    .command("put")
    .description("upload a local file (or stdin) as one object, or (--generate) synthetic objects")
    .argument("<file>", 'local file; "-" = stdin (with --generate: the destination)')
    .argument("[uri]", 'destination key; ending in "/" = that prefix + the file\'s name')
    .addOption(new Option("--generate <count>x<size>", "write COUNT synthetic objects of SIZE under the destination prefix, e.g. 100x1MiB").argParser(argument((v) => (parseGenerateSpec(v), v))))
    .addOption(new Option("--dedup <ratio>", "with --generate: blocks ÷ distinct 4 KiB blocks, e.g. 2 (default 1: none repeat)").argParser(argument(parseRatio)))
    .addOption(new Option("--compress <ratio>", "with --generate: compression ratio, e.g. 2 (default 1: incompressible)").argParser(argument(parseRatio)))
    .addOption(new Option("--seed <n>", "with --generate: same seed, same bytes (default 0)").argParser(argument(nonNegativeInteger)))
    .addOption(new Option("-j, --jobs <n>", "with --generate: objects written at once (default 8)").argParser(count))
    .addHelpText(
      "after",
      examples([
        "range put model.bin s3://bucket/models/",
        "tar c dir | range put - s3://bucket/backups/dir.tar",
        "range put a.bin file:///tmp/b.bin",
        "range put --generate 1000x1MiB --dedup 2 --compress 2 --seed 7 s3://bucket/synthetic/",
      ]),
    )
    .action(
      run<GenerateOptions>((ctx, [file, uri], o) => {
        if (o.generate !== undefined) {
          if (uri !== undefined) throw new UsageError(`put --generate takes one argument, the destination (got ${file} and ${uri})`);
          return putGenerated(ctx, file!, o);
        }
        for (const flag of ["dedup", "compress", "seed", "jobs"] as const) {
          if (o[flag] !== undefined) throw new UsageError(`--${flag} goes with --generate`);
        }
        if (uri === undefined) throw new UsageError("missing required argument 'uri'");
        return put(ctx, file!, uri);
      }),
    );

  program
    .command("replay")
    .description("re-issue the operations of an op-log (--oplog, warp or s3dlio TSV) against a store, at the recorded pace")
    .argument("<oplog>", "the op-log file (gzip/zstd/plain; TSV or JSON lines)")
    .argument("<uri>", "the store (prefix) the recorded keys are relative to")
    .addOption(new Option("--speed <factor>", "divide the recorded inter-arrival times by this, e.g. 2 (default 1)").argParser(argument(parseSpeed)))
    .option("--prepare", "first create the objects the log reads without writing them (synthetic bytes, recorded sizes)")
    .addOption(new Option("--max-in-flight <n>", "operations in flight at most (default 256)").argParser(count))
    .option("--no-thread-order", "start each operation at its time even if the previous one of its thread is still running")
    .addHelpText(
      "after",
      examples([
        "range --oplog ops.tsv.gz cp -r s3://bucket/train/ /data/train/   # record",
        "range replay ops.tsv.gz s3://other-bucket/ --speed 2 --prepare",
        "range replay --json ops.tsv.gz file:///mnt/nvme/replay/",
      ]),
    )
    .action(run<ReplayCommandOptions>((ctx, [oplog, uri], o) => replay(ctx, oplog!, uri!, o)));

  const cpCommand = program
    .command("cp")
    .description("copy objects between any two backends (a prefix with -r, --jobs objects in parallel)")
    .argument("<src>", 'source object, or prefix with -r; "-" = stdin')
    .argument("<dst>", 'destination key, or prefix ("/" at the end or an existing directory); "-" = stdout')
    .option("-r, --recursive", "copy every object under the source prefix to the destination prefix")
    .option("--keys-from <file>", 'copy the keys listed in FILE (relative to <src>; "-" = stdin)')
    .addOption(new Option("-j, --jobs <n>", "objects copied at once").argParser(count).default(4));
  selection(cpCommand)
    .addHelpText(
      "after",
      examples([
        "range cp s3://bucket/a.bin gs://other/b.bin",
        "range cp -r s3://bucket/train/ /data/train/ --jobs 16",
        "range cp -r --exclude '*.tmp' /data/out/ s3://bucket/out/",
        "range cp --keys-from keys.txt s3://bucket/train/ file:///data/train/",
      ]),
    )
    .action(run<CpOptions>((ctx, [src, dst], o) => cp(ctx, src!, dst!, o)));

  const rmCommand = program
    .command("rm")
    .description("delete an object, or (-r) every object under a prefix")
    .argument("<uri>", "the object, or the prefix with -r / --keys-from")
    .option("-r, --recursive", "delete every object under the prefix (asks first, unless --yes)")
    .option("-y, --yes", "do not ask; required for bulk deletes when stdin is not a terminal")
    .option("-f, --force", "no error when the object does not exist")
    .option("--keys-from <file>", 'delete the keys listed in FILE (relative to <uri>; "-" = stdin)')
    .addOption(new Option("-j, --jobs <n>", "deletes in flight at once (filtered deletes)").argParser(count).default(16));
  selection(rmCommand)
    .addHelpText(
      "after",
      examples(["range rm s3://bucket/tmp/x.bin", "range rm -r --yes s3://bucket/tmp/", "range rm -r --include '*.partial' --yes /data/out/"]),
    )
    .action(run<RmOptions>((ctx, [uri], o) => rm(ctx, uri!, o)));

  program
    .command("mb")
    .description("make a bucket (s3://, gs://, memory://), a container (az://), or a local directory (file://, directio://)")
    .argument("<uri>", "the bucket: scheme://name (an error if it exists); a local directory is made with its parents")
    .addHelpText("after", examples(["range mb s3://new-bucket", "range mb --endpoint http://127.0.0.1:8333 s3://scratch", "range mb file:///data/new-bucket"]))
    .action(run((ctx, [uri]) => mb(ctx, uri!)));

  program
    .command("rb")
    .description("remove an empty bucket, container or local directory (-r: with everything in it)")
    .argument("<uri>", "the bucket: scheme://name, or a local directory")
    .option("-r, --recursive", "delete every object in it first, like aws s3 rb --force (asks first, unless --yes)")
    .option("-y, --yes", "do not ask; required with -r when stdin is not a terminal")
    .addHelpText("after", examples(["range rb s3://old-bucket", "range rb -r --yes s3://scratch", "range rb file:///data/old-bucket"]))
    .action(run<RbOptions>((ctx, [uri], o) => rb(ctx, uri!, o)));

  program
    .command("bench")
    .description("quick throughput test of one store: write one object, read it back, delete it")
    .argument("<uri>", "a prefix the test object (.range-bench-<random>) is written under")
    .addOption(new Option("--size <size>", "size of the test object").argParser(size).default(64 * 1024 * 1024, "64MiB"))
    .addOption(new Option("--iterations <n>", "reads of the object").argParser(count).default(3))
    .addHelpText(
      "after",
      examples(["range bench file:///mnt/nvme/", "range bench --size 1GiB --concurrency 64 s3://bucket/tmp/", "range bench --json directio:///mnt/nvme/"]),
    )
    .action(run<BenchOptions>((ctx, [uri], o) => bench(ctx, uri!, o)));

  lsCommand("list", true);

  program
    .command("completion")
    .description("print a shell completion script")
    .argument("[shell]", "bash or zsh", "bash")
    .addHelpText("after", examples(["source <(range completion bash)", "range completion zsh > ~/.zsh/range-completion.zsh"]))
    .action(
      run(async (ctx, [shell]) => {
        await ctx.write(completionScript(program, shell ?? "bash"));
        return 0;
      }),
    );

  return program;
}
