import { constants as fsConstants } from "node:fs";
import { rm, stat, type FileHandle } from "node:fs/promises";
import {
  BackendError,
  RangeConfigError,
  abortErrorFrom,
  createObjectStore,
  type DriverReadOptions,
  type ObjectMeta,
  type ObjectStore,
} from "@range/core";
import { allocateAligned, allocateForParallelFill, isAligned, prepareForFill } from "@range/aligned-memory";
import { FileDriver, checkFileStoreOptions, localEngineOptions, shrankError, type FileStoreOptions } from "@range/file";

export interface DirectIoStoreOptions extends Omit<FileStoreOptions, "hugePages"> {
  /**
   * Alignment of offsets, lengths and buffers for O_DIRECT, in bytes: a power of two ≥ 512. 4096 suits every
   * common device (512e and 4Kn). Default 4096.
   */
  blockSize?: number;
  /**
   * On a file system that refuses O_DIRECT (ramfs, some FUSE and network file systems): `"error"` (default) fails with
   * a `BackendError` coded `E_DIRECTIO_UNSUPPORTED`; `"buffered"` silently uses ordinary page-cache I/O for that file.
   */
  unsupported?: "error" | "buffered";
}

/** Largest single direct read or write; also how often a range reports progress. A multiple of every block size. */
const MAX_IO = 16 * 1024 * 1024;
/** Staging buffer for writes: data is gathered here into whole aligned blocks. */
const WRITE_STAGING = 8 * 1024 * 1024;

/** Aligned scratch buffers, reused: each allocation maps memory, and reads need one per unaligned range. */
class ScratchPool {
  readonly #free = new Map<number, Uint8Array[]>();

  acquire(size: number): Uint8Array {
    const rounded = 2 ** Math.ceil(Math.log2(Math.max(size, 4096)));
    return this.#free.get(rounded)?.pop() ?? allocateAligned(rounded, { hugePages: false });
  }

  release(buffer: Uint8Array): void {
    const list = this.#free.get(buffer.length) ?? [];
    if (list.length < 8) list.push(buffer);
    this.#free.set(buffer.length, list);
  }
}

/**
 * Reads `out.length` bytes (a multiple of the block size, from an aligned buffer) at the aligned `position`; at the
 * end of the file O_DIRECT returns fewer. Returns how many bytes were read.
 */
async function preadDirect(handle: FileHandle, out: Uint8Array, position: number, opts: DriverReadOptions): Promise<number> {
  let done = 0;
  while (done < out.length) {
    if (opts.signal?.aborted) throw abortErrorFrom(opts.signal);
    const want = Math.min(MAX_IO, out.length - done);
    const { bytesRead } = await handle.read(out, done, want, position + done);
    done += bytesRead;
    opts.progress?.();
    if (bytesRead < want) break; // end of file
  }
  return done;
}

/** The `directio://` driver: the file driver's paths, listing and atomic rename, with O_DIRECT I/O. */
export class DirectIoDriver extends FileDriver {
  override readonly scheme: string = "directio";
  readonly #block: number;
  readonly #fallback: boolean;
  readonly #scratch = new ScratchPool();
  /** Handles opened without O_DIRECT because the file system refused it (`unsupported: "buffered"`). */
  readonly #buffered = new WeakSet<FileHandle>();

  constructor(options: DirectIoStoreOptions) {
    super(options);
    this.#block = options.blockSize ?? 4096;
    this.#fallback = options.unsupported === "buffered";
  }

  protected override async openFile(path: string, flags: number, mode?: number): Promise<FileHandle> {
    try {
      return await super.openFile(path, flags | fsConstants.O_DIRECT, mode);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EINVAL") throw error;
      // ext4 answers EINVAL for O_DIRECT on a directory: that is "not an object", not a file system without O_DIRECT.
      if ((await stat(path).catch(() => undefined))?.isDirectory()) {
        throw Object.assign(new Error(`EISDIR: ${path} is a directory`), { code: "EISDIR", cause: error });
      }
      // Some file systems (ramfs) create the file before refusing O_DIRECT; O_EXCL guarantees it is ours to remove.
      if (flags & fsConstants.O_CREAT && flags & fsConstants.O_EXCL) await rm(path, { force: true });
      if (this.#fallback) {
        const handle = await super.openFile(path, flags, mode);
        this.#buffered.add(handle);
        return handle;
      }
      throw new BackendError(
        `directio: the file system holding ${JSON.stringify(path)} does not support O_DIRECT (EINVAL). ` +
          'Use a file:// store there, or pass { unsupported: "buffered" } to fall back to page-cache I/O.',
        { code: "E_DIRECTIO_UNSUPPORTED", cause: error },
      );
    }
  }

  protected override async readRange(
    handle: FileHandle,
    meta: ObjectMeta,
    offset: number,
    length: number,
    opts: DriverReadOptions,
  ): Promise<Uint8Array> {
    if (this.#buffered.has(handle)) return super.readRange(handle, meta, offset, length, opts);
    const block = this.#block;
    const { target } = opts;
    // Zero copy when the range starts on a block and the destination is aligned memory (a result buffer from our
    // allocator, engine ranges being multiples of 64 KiB): whole blocks go straight in, only a ragged tail is staged.
    if (target !== undefined && offset % block === 0 && isAligned(target, block)) {
      const body = length - (length % block);
      if (body > 0 && (await preadDirect(handle, target.subarray(0, body), offset, opts)) < body) throw shrankError(meta.key);
      if (body < length) await this.#readStaged(handle, meta, offset + body, target.subarray(body), opts);
      return target;
    }
    const out = target ?? Buffer.allocUnsafeSlow(length);
    await this.#readStaged(handle, meta, offset, out, opts);
    return out;
  }

  /** Reads the aligned span around [offset, offset + out.length) into scratch memory and copies the wanted part. */
  async #readStaged(handle: FileHandle, meta: ObjectMeta, offset: number, out: Uint8Array, opts: DriverReadOptions): Promise<void> {
    const block = this.#block;
    for (let done = 0; done < out.length; ) {
      const position = offset + done;
      const start = position - (position % block);
      const want = Math.min(out.length - done, MAX_IO - (position - start));
      const spanEnd = Math.ceil((position + want) / block) * block;
      const scratch = this.#scratch.acquire(spanEnd - start);
      try {
        const got = await preadDirect(handle, scratch.subarray(0, spanEnd - start), start, opts);
        if (got < position - start + want) throw shrankError(meta.key);
        out.set(scratch.subarray(position - start, position - start + want), done);
      } finally {
        this.#scratch.release(scratch);
      }
      done += want;
    }
  }

  /**
   * O_DIRECT writes whole aligned blocks from aligned memory: data is gathered into an aligned staging buffer, the
   * last block is zero-padded, and the file is truncated back to its real size.
   */
  protected override async writeData(
    handle: FileHandle,
    data: Uint8Array | AsyncIterable<Uint8Array>,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (this.#buffered.has(handle)) return super.writeData(handle, data, signal);
    const block = this.#block;
    const staging = this.#scratch.acquire(WRITE_STAGING);
    let staged = 0;
    let position = 0;
    const flush = async (bytes: number) => {
      for (let done = 0; done < bytes; ) {
        const { bytesWritten } = await handle.write(staging, done, bytes - done, position + done);
        done += bytesWritten;
      }
      position += bytes;
    };
    const append = async (chunk: Uint8Array) => {
      for (let used = 0; used < chunk.length; ) {
        const n = Math.min(chunk.length - used, staging.length - staged);
        staging.set(chunk.subarray(used, used + n), staged);
        staged += n;
        used += n;
        if (staged === staging.length) {
          await flush(staged);
          staged = 0;
        }
      }
    };
    try {
      if (data instanceof Uint8Array) {
        await append(data);
      } else {
        for await (const chunk of data) {
          if (signal?.aborted) throw abortErrorFrom(signal);
          await append(chunk);
        }
      }
      if (staged > 0) {
        const padded = Math.ceil(staged / block) * block;
        staging.fill(0, staged, padded);
        const size = position + staged;
        await flush(padded);
        await handle.truncate(size);
      }
    } finally {
      this.#scratch.release(staging);
    }
  }
}

/**
 * Result buffers come from the aligned allocator so whole ranges read straight into them; huge pages while they are
 * cheap, decided range by range on the pool threads (core calls `prepareForFill` on each range's part first), as
 * O_DIRECT faults the buffer in just like a buffered read.
 */
function allocateResult(size: number): Uint8Array {
  // The engine overwrites every byte of a result before the caller sees it, so released memory may serve.
  const memory = allocateForParallelFill(size, { reuse: true });
  return Buffer.from(memory.buffer, memory.byteOffset, size);
}

/** A store over a local directory that reads and writes with O_DIRECT, bypassing the page cache. */
export function createDirectIoStore(options: DirectIoStoreOptions): ObjectStore {
  checkFileStoreOptions(options, "createDirectIoStore");
  const block = options.blockSize ?? 4096;
  if (!Number.isInteger(block) || block < 512 || block > 65536 || (block & (block - 1)) !== 0) {
    throw new RangeConfigError(`blockSize must be a power of two between 512 and 65536, got ${String(options.blockSize)}`, {
      code: "E_INVALID_OPTION",
    });
  }
  if (options.unsupported !== undefined && options.unsupported !== "error" && options.unsupported !== "buffered") {
    throw new RangeConfigError(`unsupported must be "error" or "buffered", got ${JSON.stringify(options.unsupported)}`, {
      code: "E_INVALID_OPTION",
    });
  }
  return createObjectStore(new DirectIoDriver(options), {
    engine: localEngineOptions(options.engine),
    allocate: allocateResult,
    prepareTarget: prepareForFill,
  });
}
