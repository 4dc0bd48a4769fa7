import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { BlobServiceClient, StoragePipelineOptions } from "@azure/storage-blob";
import { RangeConfigError, abortErrorFrom } from "@range/core";
import { resolveAzureConnection, type AzureConnectionOptions, type AzureConnectionSettings } from "./credentials.js";
import { mapAzureError, type AzureErrorContext } from "./errors.js";

export type AzureSdk = typeof import("@azure/storage-blob");

/** Settings of one client: where, how to authorize, and the HTTP side. */
export interface AzureAccountOptions extends AzureConnectionOptions {
  /** Sockets per host of the keep-alive agent. */
  maxSockets: number;
  /** SDK attempts per request (the engine retries ranges on top). */
  maxTries: number;
  /** More pipeline settings for the SDK (e.g. `userAgentOptions`, `proxyOptions`), applied last. */
  pipelineOptions?: StoragePipelineOptions | undefined;
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
  #loaded: Promise<Loaded> | undefined;

  constructor(options: AzureAccountOptions) {
    this.settings = resolveAzureConnection(options);
    this.maxSockets = options.maxSockets;
    this.#maxTries = options.maxTries;
    this.#pipelineOptions = options.pipelineOptions ?? {};
    // Every range of a get holds a socket: with fewer sockets than ranges, ranges would queue inside the agent while
    // their stall timers run (Node's default agent has no limit, but also keeps no idle sockets around).
    const agentOptions = { keepAlive: true, maxSockets: this.maxSockets, maxFreeSockets: this.maxSockets };
    this.#agent = this.settings.serviceUrl.startsWith("https:") ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
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
      let service: BlobServiceClient;
      switch (auth.kind) {
        case "sharedKey":
          service = new sdk.BlobServiceClient(serviceUrl, new sdk.StorageSharedKeyCredential(auth.account, auth.accountKey), pipelineOptions);
          break;
        case "sas":
          service = new sdk.BlobServiceClient(`${serviceUrl}?${auth.sasToken}`, new sdk.AnonymousCredential(), pipelineOptions);
          break;
        case "token":
          service = new sdk.BlobServiceClient(serviceUrl, auth.credential as never, pipelineOptions);
          break;
        default:
          service = new sdk.BlobServiceClient(serviceUrl, new sdk.AnonymousCredential(), pipelineOptions);
      }
      return { sdk, service };
    })();
    return this.#loaded;
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
    return mapAzureError(error, { ...ctx, credentialSource: this.settings.source });
  }

  close(): void {
    this.#agent.destroy();
  }
}
