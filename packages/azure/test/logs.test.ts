import { inspect } from "node:util";
import { AzureLogger, getLogLevel, setLogLevel } from "@azure/logger";
import { ContainerSASPermissions, StorageSharedKeyCredential, generateBlobSASQueryParameters } from "@azure/storage-blob";
import { describe, expect, it } from "vitest";
import { createAzureStore } from "../src/index.js";
import { CONTAINER, RUN, connection, errorOf } from "./helpers.js";

describe("the SDK's logs", () => {
  it("with the Azure SDK logging everything, no account key, SAS signature or SharedKey signature is written", async () => {
    const lines: string[] = [];
    // The SDK logs through @azure/logger's AzureLogger; storage-blob's `logger` is a child of it. Turn every level on
    // (what AZURE_LOG_LEVEL=verbose does) and capture what would be printed.
    const previousLevel = getLogLevel();
    const previousLog = AzureLogger.log;
    setLogLevel("verbose");
    AzureLogger.log = (...args: unknown[]) => lines.push(args.map((a) => (typeof a === "string" ? a : inspect(a, { depth: 10 }))).join(" "));
    const c = connection();
    const sas = generateBlobSASQueryParameters(
      { containerName: CONTAINER, permissions: ContainerSASPermissions.parse("rl"), expiresOn: new Date(Date.now() + 3_600_000) },
      new StorageSharedKeyCredential(c.account, c.accountKey),
    ).toString();
    const sig = decodeURIComponent(/(?:^|&)sig=([^&]+)/.exec(sas)![1]!);
    try {
      const keyStore = createAzureStore({ ...c, container: CONTAINER, prefix: `${RUN}logs/` });
      await keyStore.put("a.txt", new TextEncoder().encode("logged"));
      await keyStore.get("a.txt");
      await errorOf(keyStore.get("missing.txt"));
      await keyStore.close();
      const sasStore = createAzureStore({ endpoint: c.endpoint, sasToken: sas, container: CONTAINER, prefix: `${RUN}logs/`, engine: { retry: { attempts: 1 } } });
      await sasStore.get("a.txt");
      await errorOf(sasStore.put("denied.txt", new Uint8Array(1)));
      await sasStore.close();
    } finally {
      setLogLevel(previousLevel);
      AzureLogger.log = previousLog;
    }
    const all = lines.join("\n");
    // The capture works: the SDK did log the requests (with its own redaction).
    expect(all).toMatch(/Request: \{/);
    expect(all).toContain("x-ms-version");
    for (const secret of [c.accountKey, c.accountKey.slice(0, 20), sig, encodeURIComponent(sig)]) expect(all).not.toContain(secret);
    expect(all).not.toMatch(/SharedKey [^:\s"']+:[A-Za-z0-9+/]{20,}/);
  });
});
