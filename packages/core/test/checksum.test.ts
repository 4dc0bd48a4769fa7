import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadCrc32, loadCrc32c } from "../src/checksum/crc.js";
import {
  CHECKSUM_ALGORITHMS,
  checksumBase64,
  crc32,
  crc32c,
  crcFromBase64,
  crcImplementation,
  crcToBase64,
  createChecksum,
  isChecksumAlgorithm,
  verifyChecksum,
} from "../src/index.js";
import { patternBytes } from "./helpers.js";

const ascii = (text: string) => new TextEncoder().encode(text);

describe("CRC-32C", () => {
  it("matches the catalogue check value and RFC 3720's iSCSI vectors, natively and in JavaScript", () => {
    const ascending = Uint8Array.from({ length: 32 }, (_, i) => i);
    const descending = Uint8Array.from({ length: 32 }, (_, i) => 31 - i);
    for (const update of [(b: Uint8Array) => crc32c(b), (b: Uint8Array) => loadCrc32c(false).update(b, 0)]) {
      expect(update(ascii("123456789"))).toBe(0xe3069283);
      expect(update(new Uint8Array(32))).toBe(0x8a9136aa);
      expect(update(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
      expect(update(ascending)).toBe(0x46dd794e);
      expect(update(descending)).toBe(0x113fdb5c);
      expect(update(new Uint8Array(0))).toBe(0);
    }
    expect(loadCrc32c(false).implementation).toBe("javascript");
  });

  it("runs natively on this machine (@node-rs/crc32 has a prebuilt binary for it)", () => {
    expect(crcImplementation("crc32c")).toBe("native");
  });

  it("continues from a previous CRC, and the JavaScript fallback agrees with the native code", () => {
    const javascript = loadCrc32c(false).update;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.uint8Array({ maxLength: 600 }), (a, b) => {
        const whole = new Uint8Array([...a, ...b]);
        expect(crc32c(b, crc32c(a))).toBe(crc32c(whole));
        expect(javascript(b, javascript(a, 0))).toBe(crc32c(whole));
      }),
      { numRuns: 200 },
    );
  });

  it("is spelled as base64 of its big-endian bytes, as S3 and GCS send it", () => {
    expect(crcToBase64(0xe3069283)).toBe("4waSgw==");
    expect(crcFromBase64("4waSgw==")).toBe(0xe3069283);
    // GCS's documented example: CRC32C of "hello".
    expect(crcToBase64(crc32c(ascii("hello")))).toBe("mnG7TA==");
    expect(crcFromBase64("not base64")).toBeUndefined();
    expect(crcFromBase64("sozWKA==-2")).toBeUndefined();
  });
});

describe("CRC-32", () => {
  it("matches the catalogue check value with zlib / native code and in JavaScript", () => {
    expect(crc32(ascii("123456789"))).toBe(0xcbf43926);
    expect(loadCrc32(false).update(ascii("123456789"), 0)).toBe(0xcbf43926);
    expect(loadCrc32(false).implementation).toBe("javascript");
    expect(["zlib", "native"]).toContain(crcImplementation("crc32"));
  });

  it("continues from a previous CRC in every implementation", () => {
    const javascript = loadCrc32(false).update;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.uint8Array({ maxLength: 600 }), (a, b) => {
        const whole = new Uint8Array([...a, ...b]);
        expect(crc32(b, crc32(a))).toBe(crc32(whole));
        expect(javascript(b, javascript(a, 0))).toBe(crc32(whole));
      }),
      { numRuns: 200 },
    );
  });
});

describe("createChecksum", () => {
  it("gives the known digests of every algorithm", () => {
    const abc = ascii("abc");
    expect(checksumBase64("sha256", abc)).toBe("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
    expect(checksumBase64("sha1", abc)).toBe("qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
    expect(checksumBase64("md5", abc)).toBe("kAFQmDzST7DWlj99KOF/cg==");
    expect(checksumBase64("crc32c", ascii("123456789"))).toBe("4waSgw==");
    expect(checksumBase64("crc32", ascii("123456789"))).toBe(crcToBase64(0xcbf43926));
    expect(checksumBase64("md5", new Uint8Array(0))).toBe("1B2M2Y8AsgTpgAmY7PhCfg==");
  });

  it("fed in pieces equals one call over the whole, for every algorithm", () => {
    const data = patternBytes(3 * 1024 * 1024 + 17, 5);
    for (const algorithm of CHECKSUM_ALGORITHMS) {
      const running = createChecksum(algorithm);
      for (let offset = 0; offset < data.length; offset += 777_777) running.update(data.subarray(offset, offset + 777_777));
      expect(running.digestBase64(), algorithm).toBe(checksumBase64(algorithm, data));
    }
    const sha = createChecksum("sha256").update(data).digest();
    expect(Buffer.from(sha).equals(createHash("sha256").update(data).digest())).toBe(true);
    expect(createChecksum("crc32c").update(data).digest()).toHaveLength(4);
  });

  it("rejects unknown algorithms with RangeConfigError naming the value", () => {
    expect(() => createChecksum("crc64nvme" as never)).toThrow(expect.objectContaining({ name: "RangeConfigError", code: "E_INVALID_OPTION" }));
    expect(() => createChecksum("crc64nvme" as never)).toThrow(/crc64nvme/);
    expect(isChecksumAlgorithm("crc32c")).toBe(true);
    expect(isChecksumAlgorithm("CRC32C")).toBe(false);
    expect(isChecksumAlgorithm(undefined)).toBe(false);
  });
});

describe("verifyChecksum", () => {
  it("passes matching bytes and fails others with a retryable IntegrityError E_CHECKSUM naming both digests", () => {
    const data = ascii("123456789");
    verifyChecksum("crc32c", data, "4waSgw==", "s3://b/k");
    const damaged = Uint8Array.from(data);
    damaged[4] = damaged[4]! ^ 1;
    let error: unknown;
    try {
      verifyChecksum("crc32c", damaged, "4waSgw==", "s3://b/k");
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM", retryable: true });
    expect((error as Error).message).toMatch(/^s3:\/\/b\/k: CRC32C of the 9 bytes read is .+, the server reports 4waSgw==$/);
    expect(() => verifyChecksum("sha256", data, checksumBase64("sha256", damaged), "x")).toThrow(/SHA256/);
  });
});
