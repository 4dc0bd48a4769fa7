import { registerBackend, type BackendPlugin } from "@range/core";
import { backend as directioBackend } from "@range/directio";
import { backend as fileBackend } from "@range/file";

/** Cloud backends the CLI uses when they are installed beside it; none of them is required. */
export const OPTIONAL_BACKENDS: readonly string[] = ["@range/s3", "@range/azure", "@range/gcs"];

let registered: Promise<void> | undefined;

/**
 * Registers every backend this installation can import: file and directio always, the cloud ones when present.
 * A cloud package that is installed but fails to load is left to `openStore`, which reports why when its scheme is
 * used; commands on other schemes are unaffected.
 */
export function registerBackends(): Promise<void> {
  registered ??= (async () => {
    registerBackend(fileBackend, { replace: true });
    registerBackend(directioBackend, { replace: true });
    await Promise.all(
      OPTIONAL_BACKENDS.map(async (specifier) => {
        try {
          // A variable specifier: these packages are optional and may not exist at build time.
          const module = (await import(specifier)) as { backend?: BackendPlugin };
          if (module.backend) registerBackend(module.backend, { replace: true });
        } catch {
          // Not installed, or broken: openStore says which when the scheme is used.
        }
      }),
    );
  })();
  return registered;
}
