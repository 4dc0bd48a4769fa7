import { createRequire } from "node:module";
import { RangeConfigError } from "@range/core";

interface NativeAllocator {
  /** mode 0: ordinary pages, 1: MADV_HUGEPAGE, 2: huge pages faulted in now while each costs ≤ limitNs CPU. */
  allocate(size: number, mode: 0 | 1 | 2, limitNs: number): ArrayBuffer;
  address(view: ArrayBufferView): number;
  hugePageStats(): [faulted: number, fallbacks: number];
  /** Faults in the huge pages inside `view` on a pool thread while cheap; true when it met a slow one. */
  prefault(view: Uint8Array, limitNs: number, skip: boolean): Promise<boolean>;
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
  if (native) return new Uint8Array(native.allocate(size, mode, HUGE_FAULT_LIMIT_NS), 0, size);
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

/**
 * Zero-filled, 2 MiB aligned memory marked for huge pages, to be filled by concurrent writers (e.g. reads) that each
 * call {@link prepareForFill} on their part first: the `"auto"` decision, made part by part on libuv's pool threads
 * in parallel instead of for the whole buffer on the JS thread. Without the native allocator: `allocateAligned`.
 */
export function allocateForParallelFill(size: number): Uint8Array {
  if (!native || !Number.isSafeInteger(size) || size <= 0) return allocateAligned(size, { hugePages: false });
  const buffer = native.allocate(size, 1, HUGE_FAULT_LIMIT_NS);
  deferredBuffers.set(buffer, { slow: false });
  return new Uint8Array(buffer, 0, size);
}

/**
 * Before writing `view` (part of a buffer from {@link allocateForParallelFill}), faults in the huge pages it touches
 * on a pool thread while each stays cheap; once one is slow, this part and every later one in the buffer
 * get ordinary pages. Bytes already in the view are left as they are. Any other memory: resolves at once.
 */
export async function prepareForFill(view: Uint8Array): Promise<void> {
  const state = deferredBuffers.get(view.buffer);
  if (!native || state === undefined || view.length === 0) return;
  if (await native.prefault(view, HUGE_FAULT_LIMIT_NS, state.slow)) state.slow = true;
}

