import { fakeGcsGlobalSetup, type GcsConnection } from "@range/test-servers";

export const BUCKETS = ["range-conformance", "range-gcs-test"] as const;

declare module "vitest" {
  export interface ProvidedContext {
    gcs: GcsConnection;
  }
}

export default fakeGcsGlobalSetup({ buckets: [...BUCKETS] });
