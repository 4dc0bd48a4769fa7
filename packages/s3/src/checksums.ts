import { RangeConfigError, type ChecksumAlgorithm } from "@range/core";

/** What `put` sends with every upload when `checksum` is set (and what `get` then verifies). */
export type S3ChecksumAlgorithm = "crc32c" | "crc32" | "sha256";

/** `RANGE_S3_CHECKSUM`: `crc32c`, `crc32`, `sha256`, or `off` / `false` / `none` (the default). */
export const CHECKSUM_ENV = "RANGE_S3_CHECKSUM";

/** How S3 names one algorithm: the SDK's `ChecksumAlgorithm` value and the input/output field of its digest. */
interface S3ChecksumSpelling {
  sdk: "CRC32C" | "CRC32" | "SHA256" | "SHA1";
  field: "ChecksumCRC32C" | "ChecksumCRC32" | "ChecksumSHA256" | "ChecksumSHA1";
  /**
   * Multipart uploads can store a whole-object value (`ChecksumType: FULL_OBJECT`) only for CRCs, which combine
   * across parts; a hash gets a composite value (the hash of the parts' hashes, "…-N") that no read can recompute
   * from the bytes alone.
   */
  fullObject: boolean;
}

export const S3_CHECKSUMS: Record<S3ChecksumAlgorithm | "sha1", S3ChecksumSpelling> = {
  crc32c: { sdk: "CRC32C", field: "ChecksumCRC32C", fullObject: true },
  crc32: { sdk: "CRC32", field: "ChecksumCRC32", fullObject: true },
  sha256: { sdk: "SHA256", field: "ChecksumSHA256", fullObject: false },
  // Never sent by us, but verified on reads when an object carries it.
  sha1: { sdk: "SHA1", field: "ChecksumSHA1", fullObject: false },
};

const OFF = new Set(["off", "false", "none", "0", "no"]);

/** The `checksum` option, else `RANGE_S3_CHECKSUM`, else off; {@link RangeConfigError} naming a bad value. */
export function resolveChecksumOption(value: unknown): S3ChecksumAlgorithm | false {
  if (value === undefined) {
    const env = process.env[CHECKSUM_ENV]?.trim().toLowerCase();
    if (env === undefined || env === "" || OFF.has(env)) return false;
    if (env === "crc32c" || env === "crc32" || env === "sha256") return env;
    throw new RangeConfigError(`s3: ${CHECKSUM_ENV} must be crc32c, crc32, sha256 or off, got ${JSON.stringify(process.env[CHECKSUM_ENV])}`, {
      code: "E_INVALID_OPTION",
    });
  }
  if (value === false || value === "crc32c" || value === "crc32" || value === "sha256") return value;
  throw new RangeConfigError(`s3: checksum must be "crc32c", "crc32", "sha256" or false, got ${typeof value === "string" ? JSON.stringify(value) : String(value)}`, {
    code: "E_INVALID_OPTION",
  });
}

/** A whole-object checksum the server stores for an object. */
export interface StoredChecksum {
  algorithm: ChecksumAlgorithm;
  /** base64, as S3 sends it. */
  value: string;
}

type ChecksumFields = Partial<Record<S3ChecksumSpelling["field"], string>> & { ChecksumType?: string };

/**
 * The whole-object checksum among a HeadObject's fields that we can recompute from the bytes, `preferred` first.
 * Composite values (multipart objects without `FULL_OBJECT`: "…-N", `ChecksumType: COMPOSITE`) are skipped: they
 * are a checksum of the parts' checksums, and the part boundaries are not known to a read. Undefined when none.
 */
export function wholeObjectChecksum(out: ChecksumFields, preferred: S3ChecksumAlgorithm | false): StoredChecksum | undefined {
  if (out.ChecksumType === "COMPOSITE") return undefined;
  const order = (["crc32c", "crc32", "sha256", "sha1"] as const).slice().sort((a, b) => Number(b === preferred) - Number(a === preferred));
  for (const algorithm of order) {
    const value = out[S3_CHECKSUMS[algorithm].field];
    if (typeof value === "string" && value !== "" && !/-\d+$/.test(value)) return { algorithm, value };
  }
  return undefined;
}
