/**
 * Deterministic test data. Every object and every random range the kit uses comes from a seeded PRNG, so a failure
 * reproduces exactly on the next run.
 */

import { mulberry32, seededRandom } from "@range/core";

export { mulberry32 };

/** A generator of floats in [0, 1). */
export const randomFloats = seededRandom;

/** FNV-1a hash of a string: turns a fixture name into a seed. */
export function seedOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * `size` pseudo-random bytes for `seed`, filled a 32-bit word at a time (fast enough for tens of MiB).
 *
 * The result is deliberately a view at byteOffset 4 of a larger ArrayBuffer with random bytes around it: a backend
 * that sends `data.buffer` instead of the view (ignoring byteOffset/length) stores the wrong bytes and fails.
 */
export function randomBytes(size: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(size / 4) + 2);
  const next = mulberry32(seed);
  for (let i = 0; i < words.length; i++) words[i] = next();
  return new Uint8Array(words.buffer, 4, size);
}

/** Bytes for the fixture called `name`: the same on every run. */
export function fixtureBytes(name: string, size: number): Uint8Array {
  return randomBytes(size, seedOf(`${name}:${size}`));
}
