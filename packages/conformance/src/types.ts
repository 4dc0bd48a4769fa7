import type { ObjectStore } from "@range/core";

/** What the backend under test supports. Every field is optional; the defaults describe a full read/write store. */
export interface ConformanceCapabilities {
  /**
   * Default true: run the put, overwrite, delete and deletePrefix tests and create fixtures with `put`. When false
   * the kit never writes through the store: fixtures are created with {@link ConformanceOptions.seed}.
   */
  write?: boolean;
  /** Default true: run the list tests. */
  list?: boolean;
  /** Default false: also list 1100 keys (more than one page on S3, Azure and GCS) and check each comes back once. */
  listPagination?: boolean;
  /**
   * Default 16 MiB: size of the object the "large put" test writes from an AsyncIterable of 1 MiB chunks (enough to
   * cross the multipart / block-upload threshold of the cloud SDKs). `false` skips that test.
   */
  largePutSize?: number | false;
  /** Default true: also test objects of exactly 4 MiB - 1, 4 MiB and 4 MiB + 1 bytes with the default engine options. */
  defaultThresholdObjects?: boolean;
}

export interface ConformanceOptions {
  /** Shown in the top-level `describe`, e.g. "s3 (minio)". */
  name: string;
  /**
   * Opens the store under test. Called once per suite (in `beforeAll`); the kit closes what it returns in `afterAll`.
   * The store may be shared with other runs: the kit only touches keys under its own random prefix.
   */
  create: () => Promise<ObjectStore>;
  capabilities?: ConformanceCapabilities;
  /** Titles of tests (or suites) to skip, exactly as the kit names them. An unknown title fails a test. */
  skip?: string[];
  /**
   * Out-of-band writer for read-only backends (`capabilities.write === false`): stores `data` at `key`, where `key`
   * is relative to the root of the stores `create` returns.
   */
  seed?: (key: string, data: Uint8Array) => Promise<void>;
  /**
   * Optional probe: how many requests the backend still has running. After an abort or an early `break` settles, it
   * must drop to 0 within a second.
   */
  inFlight?: () => number;
}

export interface ResolvedCapabilities {
  write: boolean;
  list: boolean;
  listPagination: boolean;
  largePutSize: number | false;
  defaultThresholdObjects: boolean;
}
