import { createRequire } from "node:module";
import { RangeConfigError } from "@range/core";

interface NativeAllocator {
  allocate(size: number, hugePages: boolean): ArrayBuffer;
  address(view: ArrayBufferView): number;
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
   * large reads into fresh memory; huge pages cut their number 512-fold. Default true.
   */
  hugePages?: boolean;
}

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
  if (size === 0) return new Uint8Array(0);
  if (native) return new Uint8Array(native.allocate(size, options.hugePages ?? true), 0, size);
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
