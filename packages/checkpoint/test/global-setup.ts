import { seaweedFsGlobalSetup, type S3Connection } from "@range/test-servers";

export const BUCKET = "range-checkpoint-test";

declare module "vitest" {
  export interface ProvidedContext {
    s3: S3Connection;
  }
}

export default seaweedFsGlobalSetup({ buckets: [BUCKET] });
