/** A server a test started: where to reach it, and how to make it go away. */
export interface TestServer extends AsyncDisposable {
  /** What runs, e.g. "seaweedfs" or "seaweedfs-cluster". */
  readonly kind: string;
  /** The URL clients use, always on loopback, e.g. `http://127.0.0.1:41235`. */
  readonly endpoint: string;
  /** Temporary directory with the server's data and logs; removed by `stop()` unless `keepData` was set. */
  readonly dataDir: string;
  /** Log files of the server's processes (stdout and stderr), for a failing test to show. */
  readonly logFiles: readonly string[];
  /** Process ids of the process-group leaders this server runs. */
  readonly pids: readonly number[];
  /** Environment variables that point an SDK at this server. */
  env(): Record<string, string>;
  /** Stops every process of the server (SIGTERM, then SIGKILL after a grace period) and removes its data. Idempotent. */
  stop(): Promise<void>;
}

/** A server that speaks the S3 API with one signing identity. */
export interface S3TestServer extends TestServer {
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Creates a bucket (succeeds if it exists already). */
  createBucket(name: string): Promise<void>;
  /** `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`. */
  env(): Record<string, string>;
}

/** What an S3 test needs to connect; plain data, so it can cross vitest's `provide()` / `inject()`. */
export interface S3Connection {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Buckets created before the tests started. */
  buckets: string[];
}
