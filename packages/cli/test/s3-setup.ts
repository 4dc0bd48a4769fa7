import { seaweedFsGlobalSetup, type S3Connection } from "@range/test-servers";

declare module "vitest" {
  export interface ProvidedContext {
    s3: S3Connection;
  }
}

export default seaweedFsGlobalSetup({ buckets: ["range-cli-test"] });
