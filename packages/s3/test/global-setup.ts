import { seaweedFsGlobalSetup, type S3Connection } from "@range/test-servers";

export const BUCKETS = ["range-conformance", "range-s3-test"] as const;

declare module "vitest" {
  export interface ProvidedContext {
    s3: S3Connection;
  }
}

export default seaweedFsGlobalSetup({ buckets: [...BUCKETS] });
