import { createRequire } from "node:module";
import { totalmem } from "node:os";
import { RangeConfigError } from "@range/core";

interface NativeAllocator {
  /** mode 0: ordinary pages, 1: MADV_HUGEPAGE, 2: huge pages faulted in now while each costs ≤ limitNs CPU. */
  allocate(size: number, mode: 0 | 1 | 2, limitNs: number): ArrayBuffer;
  address(view: ArrayBufferView): number;
  hugePageStats(): [faulted: number, fallbacks: number];
  /** Faults in the huge pages inside `view` on a pool thread while cheap; true when it met a slow one. */
  prefault(view: Uint8Array, limitNs: number, skip: boolean): Promise<boolean>;
  /** A released mapping that fits `size` (≤ a quarter larger), holding stale bytes, or undefined. */
  reuse(size: number, huge: boolean): ArrayBuffer | undefined;
  /** Unmaps cached mappings released more than `maxIdleMs` ago. */
  trimCache(maxIdleMs: number): [cachedBytes: number, entries: number, reused: number, live: number];
  setCacheLimit(bytes: number): void;
}

/** The one piece of the WebAssembly API the fallback uses (Node's types do not declare the global). */
interface WasmMemoryConstructor {
  new (descriptor: { initial: number; maximum?: number }): { readonly buffer: ArrayBuffer };
}
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: WasmMemoryConstructor } }).WebAssembly.Memory;

export type AllocatorKind = "native" | "wasm";

export interface AllocateAlignedOptions {
  /**
   * Back the memory with 2 MiB transparent huge pages (native allocator only). First-touch page faults dominate
   * large reads into fresh memory; huge pages cut their number 512-fold.
   *
   * - `"auto"` (default): fault the huge pages in right away, one at a time, while each costs less CPU than the
   *   same 2 MiB as ordinary pages (~1 ms); at the first that costs more, the rest of the buffer uses ordinary pages.
   *   A huge page is only cheap when the kernel hands out recently used memory: in a VM with free page reporting
   *   (virtio-balloon), long-free 2 MiB blocks were returned to the host, and the first write to one costs 4-17 ms.
   * - `true`: `madvise(MADV_HUGEPAGE)` only; pages are faulted in on first write, whatever they cost.
   * - `false`: ordinary 4 KiB pages (4 KiB alignment).
   */
  hugePages?: boolean | "auto";
}

/** Above this CPU time for one 2 MiB fault, the same memory as 4 KiB pages is cheaper (512 faults of ~2 µs). */
const HUGE_FAULT_LIMIT_NS = 1_000_000;

/** Wasm pages are 64 KiB; a memory's backing store is page-aligned by the engine. */
const WASM_PAGE = 64 * 1024;
const WASM_MAX_BYTES = 65_536 * WASM_PAGE;

function loadNative(): NativeAllocator | undefined {
  if (process.env.RANGE_ALIGNED_MEMORY === "wasm") return undefined;
  try {
    return createRequire(import.meta.url)("../build/aligned_memory.node") as NativeAllocator;
  } catch {
    return undefined;
  }
}

const native = loadNative();

/** Released memory kept for reuse is unmapped after this long unused. */
const REUSE_IDLE_MS = 2_000;

/** Default cap on released memory kept for reuse: an eighth of RAM, at most 4 GiB. */
function defaultReuseLimit(): number {
  const fromEnv = process.env.RANGE_MEMORY_REUSE_BYTES;
  if (fromEnv !== undefined && fromEnv !== "") {
    const bytes = Number(fromEnv);
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new RangeConfigError(`RANGE_MEMORY_REUSE_BYTES must be a non-negative integer, got ${JSON.stringify(fromEnv)}`);
    }
    return bytes;
  }
  return Math.min(Math.floor(totalmem() / 8), 4 * 1024 ** 3);
}

native?.setCacheLimit(defaultReuseLimit());

/**
 * Which allocator serves {@link allocateAligned}: `native` (the N-API addon: `mmap` + `madvise(MADV_HUGEPAGE)`) or
 * `wasm` (the pure-JS fallback: a `WebAssembly.Memory`, page-aligned but without huge pages). Set
 * `RANGE_ALIGNED_MEMORY=wasm` to force the fallback.
 */
export const allocatorKind: AllocatorKind = native ? "native" : "wasm";

/**
 * A zero-filled buffer of `size` bytes whose first byte is aligned to at least 4096 bytes (2 MiB with huge pages on
 * the native allocator), as O_DIRECT requires. Its memory is returned to the system when the buffer is collected.
 */
export function allocateAligned(size: number, options: AllocateAlignedOptions = {}): Uint8Array {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeConfigError(`size must be a non-negative safe integer, got ${String(size)}`);
  }
  const huge = options.hugePages ?? "auto";
  const mode = huge === "auto" ? 2 : huge === true ? 1 : huge === false ? 0 : undefined;
  if (mode === undefined) throw new RangeConfigError(`hugePages must be true, false or "auto", got ${String(huge)}`);
  if (size === 0) return new Uint8Array(0);
  if (native) return new Uint8Array(freshMapping(native, size, mode), 0, size);
  if (size > WASM_MAX_BYTES) {
    throw new RangeConfigError(`the pure-JS aligned allocator holds at most 4 GiB, asked for ${size} bytes`);
  }
  const pages = Math.ceil(size / WASM_PAGE);
  const buffer = new WasmMemory({ initial: pages, maximum: pages }).buffer;
  wasmBuffers.add(buffer);
  return new Uint8Array(buffer, 0, size);
}

/** Buffers from the fallback: their start is page-aligned although JS cannot see the address. */
const wasmBuffers = new WeakSet<ArrayBufferLike>();
/** What the fallback's page alignment proves (the engine maps wasm memory page by page). */
const WASM_PROVEN_ALIGNMENT = 4096;

/**
 * Whether `view` starts at an address that is a multiple of `alignment` (a power of two). Exact with the native
 * allocator (any memory); with the fallback, true only for views into memory it allocated.
 */
export function isAligned(view: ArrayBufferView, alignment: number): boolean {
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    throw new RangeConfigError(`alignment must be a power of two, got ${String(alignment)}`);
  }
  if (native) return native.address(view) % alignment === 0;
  return alignment <= WASM_PROVEN_ALIGNMENT && wasmBuffers.has(view.buffer) && view.byteOffset % alignment === 0;
}

/** The address of a view's first byte, when the native allocator is loaded (for alignment checks); else undefined. */
export function addressOf(view: ArrayBufferView): number | undefined {
  return native?.address(view);
}

/**
 * What `hugePages: "auto"` did in this process: huge pages it faulted in, and allocations where a huge page was
 * slow, so the rest of that buffer got ordinary pages. Zeros with the fallback allocator.
 */
export function hugePageStats(): { faulted: number; fallbacks: number } {
  const [faulted, fallbacks] = native?.hugePageStats() ?? [0, 0];
  return { faulted, fallbacks };
}

/** Buffers from {@link allocateForParallelFill}, with whether a slow huge page was already met in them. */
const deferredBuffers = new WeakMap<ArrayBufferLike, { slow: boolean }>();

export interface ParallelFillOptions {
  /**
   * Hand out memory of an earlier buffer of this process that was garbage collected (native allocator, ≥ 2 MiB),
   * when one fits: its pages are already faulted in, so filling it runs at memcpy speed instead of paying ~0.6 s of
   * page faults per GiB. Its bytes are then NOT zeroed: they are what that buffer last held, so only for memory
   * the caller overwrites entirely (e.g. a read's result) before anyone sees it. Default false.
   *
   * Released buffers are kept up to `RANGE_MEMORY_REUSE_BYTES` (default an eighth of RAM, at most 4 GiB; `0`
   * keeps none) and unmapped after 2 s unused.
   */
  reuse?: boolean;
}

/**
 * 2 MiB aligned memory marked for huge pages, to be filled by concurrent writers (e.g. reads) that each call
 * {@link prepareForFill} on their part first: the `"auto"` decision, made part by part on libuv's pool threads in
 * parallel instead of for the whole buffer on the JS thread. Zero-filled, unless `reuse` handed out released memory.
 * Without the native allocator: `allocateAligned`.
 */
export function allocateForParallelFill(size: number, options: ParallelFillOptions = {}): Uint8Array {
  if (!native || !Number.isSafeInteger(size) || size <= 0) return allocateAligned(size, { hugePages: false });
  const reused = options.reuse === true ? reusedMapping(native, size, true) : undefined;
  // Reused memory is faulted in already: prepareForFill has nothing to decide for it.
  return new Uint8Array(reused ?? parallelFillMapping(native, size), 0, size);
}

/** A fresh 2 MiB-aligned mapping whose huge pages {@link prepareForFill} faults in part by part, while cheap. */
function parallelFillMapping(allocator: NativeAllocator, size: number): ArrayBuffer {
  const buffer = freshMapping(allocator, size, 1);
  deferredBuffers.set(buffer, { slow: false });
  return buffer;
}

/** Below this, glibc's malloc serves blocks from heap memory just freed and already faulted in: nothing beats it. */
const MALLOC_REUSE_MAX = 32 * 1024 * 1024;

/**
 * Memory for a result the caller overwrites entirely before anyone reads it, e.g. the `allocate` option of any
 * store (`createS3Store({ allocate: allocateReusable })`): from 32 MiB on, the memory of an earlier buffer the GC
 * released when one fits (see `reuse` of {@link allocateForParallelFill}), else fresh ordinary pages, which are kept
 * for the next result once this one is collected; below 32 MiB, `Buffer.allocUnsafeSlow`. **Not zeroed.** A reader
 * of large objects one after another then pays first-touch page faults (~0.6 s per GiB on these VMs) once, not per
 * object. With the fallback allocator: always `Buffer.allocUnsafeSlow`.
 */
export function allocateReusable(size: number): Buffer {
  return reusableBuffer(size, MALLOC_REUSE_MAX, false);
}

/**
 * From `minSize` on, with the native allocator: any released mapping that fits, else a fresh one (kept for the next
 * buffer once collected): ordinary pages, or with `parallelFill` huge pages that {@link prepareForFill} faults in part
 * by part. Below, or with the fallback allocator, `Buffer.allocUnsafeSlow`. Not zeroed.
 */
function reusableBuffer(size: number, minSize: number, parallelFill: boolean): Buffer {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeConfigError(`size must be a non-negative safe integer, got ${String(size)}`);
  }
  if (!native || size < minSize) return Buffer.allocUnsafeSlow(size);
  // Any released mapping, huge pages or not: its pages are all present, so there is nothing left to prepare.
  const buffer = reusedMapping(native, size, false) ?? (parallelFill ? parallelFillMapping(native, size) : freshMapping(native, size, 0));
  return Buffer.from(buffer, 0, size);
}

/**
 * Every native mapping of 2 MiB or more, fresh or reused, goes to the reuse cache when the GC collects it: these two
 * are the only ways to get one, and both start the timer that unmaps what nobody reuses.
 */
function freshMapping(allocator: NativeAllocator, size: number, mode: 0 | 1 | 2): ArrayBuffer {
  keepTrimming();
  return allocator.allocate(size, mode, HUGE_FAULT_LIMIT_NS);
}

function reusedMapping(allocator: NativeAllocator, size: number, huge: boolean): ArrayBuffer | undefined {
  keepTrimming();
  return allocator.reuse(size, huge);
}

let trimTimer: NodeJS.Timeout | undefined;

/**
 * Unmaps released memory nobody reused within {@link REUSE_IDLE_MS}. Runs while large buffers are alive or cached
 * (a buffer is released whenever the GC gets to it); unref'd, so it never keeps a process alive.
 */
function keepTrimming(): void {
  if (trimTimer !== undefined || !native) return;
  trimTimer = setTimeout(() => {
    trimTimer = undefined;
    const [cachedBytes, , , live] = native.trimCache(REUSE_IDLE_MS);
    if (cachedBytes > 0 || live > 0) keepTrimming();
  }, REUSE_IDLE_MS / 2);
  trimTimer.unref();
}

/**
 * Released memory kept for `reuse`: bytes and buffers cached now, and how many allocations were served from it in
 * this process. Zeros with the fallback allocator.
 */
export function reuseStats(): { cachedBytes: number; cached: number; reused: number } {
  // An idle limit nothing reaches: read the numbers without unmapping anything.
  const [cachedBytes, cached, reused] = native?.trimCache(Number.MAX_SAFE_INTEGER) ?? [0, 0, 0];
  return { cachedBytes, cached, reused };
}

/** Unmaps every released buffer kept for reuse now (e.g. before a memory-hungry phase). */
export function releaseReusableMemory(): void {
  native?.trimCache(0);
}

/**
 * Before writing `view` (part of a buffer from {@link allocateForParallelFill}), faults in the huge pages it touches
 * on a pool thread while each stays cheap; once one is slow, this part and every later one in the buffer
 * get ordinary pages. Bytes already in the view are left as they are. Any other memory: undefined, synchronously —
 * nothing to wait for. (Not an async function: a promise per range, even an empty one, kept 16 MiB file results
 * reachable across a young-generation GC often enough to cause ~180 full GCs per 1,000 gets.)
 */
export function prepareForFill(view: Uint8Array): Promise<void> | undefined {
  if (!native || view.length === 0) return undefined;
  const state = deferredBuffers.get(view.buffer);
  if (state === undefined) return undefined;
  return native.prefault(view, HUGE_FAULT_LIMIT_NS, state.slow).then((slow) => {
    if (slow) state.slow = true;
  });
}

/**
 * Results from this size on (the smallest a released mapping the reuse cache keeps) come from the native allocator.
 * Not glibc's malloc for mid sizes either: whether it hands back heap memory that is already faulted in depends on
 * its trim heuristics and on what else the heap holds (8 MiB file gets in a loop: 0 to 2,000 page faults per get,
 * 1.1 to 4.5 ms, as small allocations around the result changed; from the reuse cache 0–1, 0.75–0.8 ms).
 */
const READ_RESULT_REUSE_MIN = 2 * 1024 * 1024;

/**
 * The result buffer of a read the JS thread fills (network reads: sockets copy into it), for the `allocate` option
 * of core's `createObjectStore`; every byte must be overwritten before anyone sees it. From 2 MiB on, with the native
 * allocator: the memory of any earlier result the GC released that fits (no page faults at all), else fresh ordinary
 * pages, kept for the next result once this one is collected. Below 2 MiB, or with the fallback allocator:
 * `Buffer.allocUnsafeSlow`. **Not zeroed.** Not huge pages: probing them before each range delays its request, and a
 * 256 MiB S3 get was slower with them than with ordinary pages.
 */
export function allocateReadResult(size: number): Uint8Array {
  return reusableBuffer(size, READ_RESULT_REUSE_MIN, false);
}

/**
 * The result buffer of a read whose ranges pool threads fill in parallel (local file reads), with
 * {@link prepareForFill} called on each range's part first (`parallelReadResultMemory` sets both up). From 2 MiB on,
 * with the native allocator: the memory of any earlier result the GC released that fits, else 2 MiB-aligned memory
 * whose huge pages each range faults in on its pool thread while they stay cheap (512 times fewer faults). Below
 * 2 MiB, or with the fallback allocator (no huge pages): `Buffer.allocUnsafeSlow`. **Not zeroed.**
 */
export function allocateParallelReadResult(size: number): Uint8Array {
  return reusableBuffer(size, READ_RESULT_REUSE_MIN, true);
}

/**
 * The two `createObjectStore` options for results pool threads fill in parallel: spread them in,
 * `createObjectStore(driver, { engine, ...parallelReadResultMemory })`; core then calls `prepareForFill` on each
 * range's part before the range is read into it.
 */
export const parallelReadResultMemory: {
  readonly allocate: (size: number) => Uint8Array;
  readonly prepareTarget: (target: Uint8Array) => Promise<void> | undefined;
} = Object.freeze({ allocate: allocateParallelReadResult, prepareTarget: prepareForFill });
