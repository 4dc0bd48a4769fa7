import { createS3Store } from "@range/s3";
import { inject } from "vitest";
import { BUCKET } from "./global-setup.js";
import { checkpointSuite } from "./suite.js";

checkpointSuite("S3 (SeaweedFS)", async () => {
  const s3 = inject("s3");
  return createS3Store({
    bucket: BUCKET,
    prefix: "checkpoint-test",
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
});
