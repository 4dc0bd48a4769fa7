import { inject } from "vitest";

// The SDK's usual variables, so a child process (and `openStore("s3://...")`) reaches the test server.
const s3 = inject("s3");
process.env.AWS_ENDPOINT_URL = s3.endpoint;
process.env.AWS_REGION = s3.region;
process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
delete process.env.AWS_ENDPOINT_URL_S3;
delete process.env.AWS_PROFILE;
// The SDK warns once per process that its 2027 releases need Node 22; the tests run on Node 20 on purpose.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
