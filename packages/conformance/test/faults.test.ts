import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { FAULTS } from "./faults/faulty-stores.js";

interface AssertionResult {
  ancestorTitles: string[];
  title: string;
  status: string;
  failureMessages: string[];
}

const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const vitestBin = join(dirname(createRequire(import.meta.url).resolve("vitest/package.json")), "vitest.mjs");

/** Runs the kit against every faulty store in a child vitest and returns each run's results by name. */
async function runFaults(): Promise<Map<string, AssertionResult[]>> {
  const dir = await mkdtemp(join(tmpdir(), "range-conformance-faults-"));
  const report = join(dir, "report.json");
  try {
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("VITEST")));
    const stderr = await new Promise<string>((resolve) => {
      execFile(
        process.execPath,
        [vitestBin, "run", "--config", "test/faults/vitest.config.ts", "--reporter=json", `--outputFile=${report}`],
        { cwd: packageDir, maxBuffer: 64 * 1024 * 1024, env: { ...env, NODE_OPTIONS: "" } },
        // The child run fails (that is the point): only its report matters.
        (_error, _stdout, err) => resolve(err),
      );
    });
    const text = await readFile(report, "utf8").catch(() => {
      throw new Error(`the fault run wrote no report; its stderr:\n${stderr}`);
    });
    const json = JSON.parse(text) as { testResults: { assertionResults: AssertionResult[]; message?: string }[] };
    const runs = new Map<string, AssertionResult[]>();
    for (const file of json.testResults) {
      if (file.assertionResults.length === 0) throw new Error(`the fault run collected no tests: ${file.message ?? ""}`);
      for (const result of file.assertionResults) {
        const run = result.ancestorTitles[0]!.replace("@range/conformance: ", "");
        runs.set(run, [...(runs.get(run) ?? []), result]);
      }
    }
    return runs;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("the kit catches faulty backends", () => {
  const results = runFaults();
  results.catch(() => {});

  it("passes a correct store (the control run)", { timeout: 120_000 }, async () => {
    const control = (await results).get("fault: none (control)");
    expect(control?.length).toBeGreaterThan(100);
    const failed = control!.filter((r) => r.status === "failed").map((r) => `${r.title}: ${r.failureMessages[0]?.split("\n")[0]}`);
    expect(failed).toEqual([]);
  });

  for (const fault of FAULTS) {
    it(`catches: ${fault.id}`, { timeout: 120_000 }, async () => {
      const run = (await results).get(`fault: ${fault.id}`);
      expect(run, `no results for fault ${fault.id}`).toBeDefined();
      const byTitle = new Map(run!.map((r) => [r.title, r.status]));
      for (const title of fault.caughtBy) {
        expect(byTitle.get(title), `"${title}" against "${fault.id}"`).toBe("failed");
      }
    });
  }
});
