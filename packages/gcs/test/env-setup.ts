import { inject } from "vitest";

// The SDK's usual variable, so `openStore("gs://...")` with no options reaches the test server.
const gcs = inject("gcs");
process.env.STORAGE_EMULATOR_HOST = gcs.endpoint;
// Tests never look for a GCE metadata server (google-auth-library would otherwise probe 169.254.169.254), nor use
// the credentials or project of whoever runs them.
process.env.METADATA_SERVER_DETECTION = "none";
delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
delete process.env.GOOGLE_CLOUD_PROJECT;
delete process.env.GCLOUD_PROJECT;
