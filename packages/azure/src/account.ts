import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { BlobServiceClient, StoragePipelineOptions } from "@azure/storage-blob";
import type { Socket } from "node:net";
import { RangeConfigError, TimeoutError, abortErrorFrom, createReadAgent } from "@range/core";
import { resolveAzureConnection, type AzureConnectionOptions, type AzureConnectionSettings } from "./credentials.js";
import { mapAzureError, sanitizedCause, type AzureErrorContext } from "./errors.js";

export type AzureSdk = typeof import("@azure/storage-blob");

/** Settings of one client: where, how to authorize, and the HTTP side. */
export interface AzureAccountOptions extends AzureConnectionOptions {
  /** Sockets per host of the keep-alive agent. */
  maxSockets: number;
  /** SDK attempts per request (the engine retries ranges on top). */
  maxTries: number;
  /** More pipeline settings for the SDK (e.g. `userAgentOptions`, `proxyOptions`), applied last. */
  pipelineOptions?: StoragePipelineOptions | undefined;
  /**
   * A socket that sends and receives nothing for this long is closed and its request fails with `TimeoutError`
   * (default: none). The SDK's own `tryTimeoutInMs` caps a whole request instead, which a large block would hit
   * while still moving: this catches a stalled upload, listing or delete that no engine stall timer watches.
   */
  socketTimeoutMs?: number | undefined;
}

/** The `code` of the error a socket closed for inactivity fails with (the SDK keeps it on its RestError). */
const SOCKET_TIMEOUT_CODE = "E_RANGE_SOCKET_INACTIVE";

function isSocketTimeout(error: unknown): boolean {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === SOCKET_TIMEOUT_CODE) return true;
  }
  return false;
}

interface Loaded {
  sdk: AzureSdk;
  service: BlobServiceClient;
}

/**
 * One storage account as the SDK sees it: a `BlobServiceClient` (created on first use, with the SDK imported then)
 * sending through our own keep-alive agent. Shared by the store driver and the container manager.
 */
export class AzureAccount {
  readonly settings: AzureConnectionSettings;
  readonly maxSockets: number;
  readonly #maxTries: number;
  readonly #pipelineOptions: StoragePipelineOptions;
  readonly #agent: HttpAgent | HttpsAgent;
  readonly #socketTimeoutMs: number | undefined;
  #loaded: Promise<Loaded> | undefined;
  #batch: Promise<BlobServiceClient> | undefined;
  #batchAgent: HttpAgent | HttpsAgent | undefined;

  constructor(options: AzureAccountOptions) {
    this.settings = resolveAzureConnection(options);
    this.maxSockets = options.maxSockets;
    this.#maxTries = options.maxTries;
    this.#pipelineOptions = options.pipelineOptions ?? {};
    // Every range of a get holds a socket: with fewer sockets than ranges, ranges would queue inside the agent while
    // their stall timers run (Node's default agent has no limit, but also keeps no idle sockets around).
    const timeout = options.socketTimeoutMs !== undefined && Number.isFinite(options.socketTimeoutMs) ? options.socketTimeoutMs : undefined;
    this.#socketTimeoutMs = timeout;
    // The agent's `timeout` stays on its sockets across keep-alive reuse (a socket's own setTimeout would be reset).
    const agentOptions = { keepAlive: true, maxSockets: this.maxSockets, maxFreeSockets: this.maxSockets, ...(timeout ? { timeout } : {}) };
    // Plain HTTP (Azurite, a private endpoint): bodies are read through one reused buffer rather than a new Buffer per
    // socket read (core's createReadAgent), which cuts the client CPU of a large download.
    this.#agent = this.settings.serviceUrl.startsWith("https:") ? new HttpsAgent(agentOptions) : createReadAgent(agentOptions);
    if (timeout) closeInactiveSockets(this.#agent, timeout);
  }

  /** The keep-alive agent the client sends through. */
  get agent(): HttpAgent | HttpsAgent {
    return this.#agent;
  }

  /** The `BlobServiceClient` (created on first call). */
  async service(): Promise<BlobServiceClient> {
    return (await this.#load()).service;
  }

  async sdk(): Promise<AzureSdk> {
    return (await this.#load()).sdk;
  }

  #load(): Promise<Loaded> {
    this.#loaded ??= (async () => {
      let sdk: AzureSdk;
      try {
        sdk = await import("@azure/storage-blob");
      } catch (error) {
        this.#loaded = undefined;
        throw new RangeConfigError(`@range/azure needs @azure/storage-blob: install it with \`pnpm add @azure/storage-blob\` (${(error as Error).message})`, {
          code: "E_BACKEND_LOAD",
          cause: error,
        });
      }
      const { serviceUrl, auth } = this.settings;
      // `agent` is a core-rest-pipeline PipelineOptions field that the storage pipeline passes through (it is not in
      // StoragePipelineOptions' type): every request then uses our agent, sized to the engine's concurrency.
      const pipelineOptions = {
        retryOptions: { maxTries: this.#maxTries },
        agent: this.#agent,
        ...this.#pipelineOptions,
      } as StoragePipelineOptions;
      return { sdk, service: serviceClient(sdk, serviceUrl, auth, pipelineOptions) };
    })();
    return this.#loaded;
  }

  /**
   * A client for Blob Batch requests, on its own agent without the inactivity limit: a batch is answered only once
   * every sub-request ran, and its socket was seen silent well past the store's limit (Azurite, 256 deletes, a loaded
   * machine). A stalled batch is left to the SDK's retry policy and the caller.
   */
  async batchService(): Promise<BlobServiceClient> {
    this.#batch ??= (async () => {
      const { sdk } = await this.#load();
      const agentOptions = { keepAlive: true, maxSockets: 4, maxFreeSockets: 4 };
      const agent = this.settings.serviceUrl.startsWith("https:") ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
      this.#batchAgent = agent;
      const pipelineOptions = { retryOptions: { maxTries: this.#maxTries }, agent, ...this.#pipelineOptions } as StoragePipelineOptions;
      return serviceClient(sdk, this.settings.serviceUrl, this.settings.auth, pipelineOptions);
    })();
    return this.#batch;
  }

  /**
   * Runs one SDK call, mapping its errors to core's typed errors (messages name the operation and blob, never a
   * secret). A signal that is already aborted fails before the request.
   */
  async call<T>(ctx: Omit<AzureErrorContext, "credentialSource">, run: () => Promise<T>): Promise<T> {
    if (ctx.signal?.aborted) throw abortErrorFrom(ctx.signal);
    try {
      return await run();
    } catch (error) {
      throw this.mapError(error, ctx);
    }
  }

  mapError(error: unknown, ctx: Omit<AzureErrorContext, "credentialSource">): Error {
    if (!ctx.signal?.aborted && isSocketTimeout(error)) {
      const where = ctx.blob === undefined ? `az://${ctx.container}` : `az://${ctx.container}/${ctx.blob}`;
      return new TimeoutError(`${ctx.operation} ${where}: the connection made no progress (socket inactivity limit ${this.#socketTimeoutMs} ms)`, {
        retryable: true,
        cause: sanitizedCause(error),
      });
    }
    return mapAzureError(error, { ...ctx, credentialSource: this.settings.source });
  }

  close(): void {
    this.#agent.destroy();
    this.#batchAgent?.destroy();
  }
}

/**
 * Node only reports an inactive socket (`timeout` event) and leaves it open while a request uses it: close it, so the
 * request fails instead of waiting forever on a peer that stopped reading or answering.
 */
function closeInactiveSockets(agent: HttpAgent | HttpsAgent, timeoutMs: number): void {
  const withCreate = agent as unknown as { createConnection: (...args: unknown[]) => Socket };
  const create = withCreate.createConnection.bind(agent);
  withCreate.createConnection = (...args: unknown[]) => {
    const socket = create(...args);
    socket.on("timeout", () => {
      socket.destroy(Object.assign(new Error(`socket made no progress for ${timeoutMs} ms`), { code: SOCKET_TIMEOUT_CODE }));
    });
    return socket;
  };
}

function serviceClient(sdk: AzureSdk, serviceUrl: string, auth: AzureConnectionSettings["auth"], pipelineOptions: StoragePipelineOptions): BlobServiceClient {
  switch (auth.kind) {
    case "sharedKey":
      return new sdk.BlobServiceClient(serviceUrl, new sdk.StorageSharedKeyCredential(auth.account, auth.accountKey), pipelineOptions);
    case "sas":
      return new sdk.BlobServiceClient(`${serviceUrl}?${auth.sasToken}`, new sdk.AnonymousCredential(), pipelineOptions);
    case "token":
      return new sdk.BlobServiceClient(serviceUrl, auth.credential as never, pipelineOptions);
    default:
      return new sdk.BlobServiceClient(serviceUrl, new sdk.AnonymousCredential(), pipelineOptions);
  }
}
