import { createHash, type Hash } from "node:crypto";
import { describeValue } from "../engine/options.js";
import { IntegrityError, RangeConfigError } from "../errors.js";
import { crc32, crc32c, type CrcFunction } from "./crc.js";

/** The checksums backends exchange with their servers: S3 (CRC32C, CRC32, SHA256, SHA1), GCS (CRC32C), Azure (MD5). */
export type ChecksumAlgorithm = "crc32c" | "crc32" | "sha256" | "sha1" | "md5";

export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = ["crc32c", "crc32", "sha256", "sha1", "md5"];

/** A running checksum: feed it the bytes in order, then read the digest once. */
export interface Checksum {
  readonly algorithm: ChecksumAlgorithm;
  update(bytes: Uint8Array): this;
  /** The digest (a CRC as its 4 big-endian bytes). Ends the checksum: call it once. */
  digest(): Uint8Array;
  /** {@link digest} in base64, how S3's `x-amz-checksum-*`, GCS's `crc32c` and `Content-MD5` carry it. */
  digestBase64(): string;
}

class CrcChecksum implements Checksum {
  #value = 0;
  constructor(
    readonly algorithm: ChecksumAlgorithm,
    readonly update32: CrcFunction,
  ) {}

  update(bytes: Uint8Array): this {
    this.#value = this.update32(bytes, this.#value);
    return this;
  }

  digest(): Uint8Array {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(this.#value >>> 0);
    return out;
  }

  digestBase64(): string {
    return Buffer.from(this.digest()).toString("base64");
  }
}

class HashChecksum implements Checksum {
  readonly #hash: Hash;
  constructor(readonly algorithm: ChecksumAlgorithm) {
    this.#hash = createHash(algorithm);
  }

  update(bytes: Uint8Array): this {
    this.#hash.update(bytes);
    return this;
  }

  digest(): Uint8Array {
    return this.#hash.digest();
  }

  digestBase64(): string {
    return this.#hash.digest("base64");
  }
}

/** True for a name {@link createChecksum} knows. */
export function isChecksumAlgorithm(value: unknown): value is ChecksumAlgorithm {
  return typeof value === "string" && (CHECKSUM_ALGORITHMS as readonly string[]).includes(value);
}

/**
 * A running checksum of `algorithm`: CRCs through {@link crc32c} / {@link crc32} (native where possible), hashes
 * through `node:crypto`. {@link RangeConfigError} for an unknown name.
 */
export function createChecksum(algorithm: ChecksumAlgorithm): Checksum {
  switch (algorithm) {
    case "crc32c":
      return new CrcChecksum(algorithm, crc32c);
    case "crc32":
      return new CrcChecksum(algorithm, crc32);
    case "sha256":
    case "sha1":
    case "md5":
      return new HashChecksum(algorithm);
    default:
      throw new RangeConfigError(`checksum algorithm must be one of ${CHECKSUM_ALGORITHMS.join(", ")}, got ${describeValue(algorithm)}`, {
        code: "E_INVALID_OPTION",
      });
  }
}

/** The base64 digest of `bytes` in one call. */
export function checksumBase64(algorithm: ChecksumAlgorithm, bytes: Uint8Array): string {
  return createChecksum(algorithm).update(bytes).digestBase64();
}

/**
 * Checks `bytes` against the base64 digest a server reported; {@link IntegrityError} `E_CHECKSUM` on a mismatch,
 * retryable (bytes damaged in flight read right the next time; a stored object that is damaged fails every time).
 * `what` names the object in the message, e.g. `s3://bucket/key`.
 */
export function verifyChecksum(algorithm: ChecksumAlgorithm, bytes: Uint8Array, expected: string, what: string): void {
  const actual = checksumBase64(algorithm, bytes);
  if (actual !== expected) {
    throw new IntegrityError(
      `${what}: ${algorithm.toUpperCase()} of the ${bytes.length} bytes read is ${actual}, the server reports ${expected}`,
      { code: "E_CHECKSUM", retryable: true },
    );
  }
}
