import { onAbort } from "../abort.js";
import { IntegrityError, abortErrorFrom } from "../errors.js";
import { createChecksum, verifyChecksum, type Checksum, type ChecksumAlgorithm } from "./checksum.js";

/** A whole-object digest a server stores with an object (S3 `x-amz-checksum-*`, GCS `x-goog-hash`, Azure `Content-MD5`). */
export interface ExpectedChecksum {
  algorithm: ChecksumAlgorithm;
  /** The digest in base64, as the server sends it (a CRC as its 4 big-endian bytes). */
  value: string;
  /** Names the object in a mismatch message, e.g. `az://container/key`. */
  what: string;
}

/**
 * What a driver hands core for a whole-object check: the digest, or a promise of it when it comes from a request made
 * alongside the first one (S3's HeadObject). `undefined` (or a promise of it): nothing to check.
 */
export type WholeObjectChecksum = ExpectedChecksum | Promise<ExpectedChecksum | undefined>;

function mismatch(expected: ExpectedChecksum, actual: string, bytes: number): IntegrityError {
  return new IntegrityError(
    `${expected.what}: ${expected.algorithm.toUpperCase()} of the ${bytes} bytes read is ${actual}, the server reports ${expected.value}`,
    { code: "E_CHECKSUM", retryable: true },
  );
}

/** Checks a whole object held in one buffer (`get`) against what the driver said. */
export async function verifyWholeObject(checksum: WholeObjectChecksum, bytes: Uint8Array): Promise<void> {
  const expected = await checksum;
  if (expected) verifyChecksum(expected.algorithm, bytes, expected.value, expected.what);
}

/**
 * Hashes an object as its bytes are produced, in order (`getStream`), then compares with what the driver said. The
 * digest may still be on its way when the first bytes come: `update` waits for it, so the caller's loop waits too.
 */
export class IncrementalVerifier {
  readonly #expected: Promise<ExpectedChecksum | undefined>;
  #checksum: Checksum | undefined;
  #known: ExpectedChecksum | undefined;
  #resolved = false;
  #hashed = 0;

  constructor(checksum: WholeObjectChecksum) {
    this.#expected = Promise.resolve(checksum);
    // Read by `update`/`finish`; a read that fails before either must not leave an unhandled rejection behind.
    this.#expected.catch(() => {});
  }

  async #ready(): Promise<void> {
    if (this.#resolved) return;
    this.#known = await this.#expected;
    this.#resolved = true;
    if (this.#known) this.#checksum = createChecksum(this.#known.algorithm);
  }

  /** Bytes hashed so far. */
  get hashed(): number {
    return this.#hashed;
  }

  async update(bytes: Uint8Array): Promise<void> {
    await this.#ready();
    this.#checksum?.update(bytes);
    this.#hashed += bytes.length;
  }

  /** Ends the check: {@link IntegrityError} `E_CHECKSUM` (retryable) when the digest differs. Call once, after the last byte. */
  async finish(): Promise<void> {
    await this.#ready();
    if (!this.#known || !this.#checksum) return;
    const actual = this.#checksum.digestBase64();
    if (actual !== this.#known.value) throw mismatch(this.#known, actual, this.#hashed);
  }
}

/**
 * An {@link IncrementalVerifier} fed ranges out of order (`readTo`, `downloadFile`): a range is hashed once every byte
 * before it was, the ones ahead of that point are held. At most `maxHeld` ranges wait at once: `add` of one more
 * waits until the point moves (the engine then keeps that range's slot busy, so the read slows instead of growing
 * without bound). The range at the point is always in flight or being added, so the wait ends; an abort of `signal`
 * ends it too.
 */
export class OrderedVerifier {
  readonly #verifier: IncrementalVerifier;
  readonly #held = new Map<number, Uint8Array>();
  readonly #maxHeld: number;
  readonly #signal: AbortSignal;
  #next: number;
  #draining: Promise<void> = Promise.resolve();
  #waiters: (() => void)[] = [];
  #failed = false;

  /** `start`: the offset of the first byte to hash (0 for the whole object). */
  constructor(checksum: WholeObjectChecksum, options: { maxHeld: number; signal: AbortSignal; start?: number }) {
    this.#verifier = new IncrementalVerifier(checksum);
    this.#maxHeld = Math.max(1, options.maxHeld);
    this.#signal = options.signal;
    this.#next = options.start ?? 0;
  }

  async add(offset: number, bytes: Uint8Array): Promise<void> {
    if (bytes.length === 0) return;
    this.#held.set(offset, bytes);
    this.#drain();
    while (!this.#failed && this.#held.has(offset) && this.#held.size > this.#maxHeld) await this.#moved();
    // Hashing errors (a rejected digest promise) surface here, on the range that is in order.
    await this.#draining;
  }

  /** Waits for the hashing to reach `size`, then compares: {@link IntegrityError} `E_CHECKSUM` on a mismatch. */
  async finish(size: number): Promise<void> {
    await this.#draining;
    if (this.#next !== size) {
      throw new IntegrityError(`checksum: hashed up to byte ${this.#next} of ${size}, a range never arrived`, { code: "E_LENGTH_MISMATCH", retryable: true });
    }
    await this.#verifier.finish();
  }

  #drain(): void {
    this.#draining = this.#draining.then(async () => {
      for (let bytes = this.#held.get(this.#next); bytes !== undefined; bytes = this.#held.get(this.#next)) {
        this.#held.delete(this.#next);
        await this.#verifier.update(bytes);
        this.#next += bytes.length;
        this.#wake();
      }
    });
    this.#draining.catch(() => {
      // A digest that could not be had: nobody waits for the point to move any more.
      this.#failed = true;
      this.#held.clear();
      this.#wake();
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  #moved(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.#signal.aborted) return reject(abortErrorFrom(this.#signal));
      const stop = onAbort(this.#signal, () => reject(abortErrorFrom(this.#signal)));
      this.#waiters.push(() => {
        stop();
        resolve();
      });
    });
  }
}
