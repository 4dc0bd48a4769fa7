import { randomBytes } from "node:crypto";
import { constants as fsConstants, fstatSync, type BigIntStats, type Dirent } from "node:fs";
import { copyFile, lstat, mkdir, open, readdir, realpath, rename, rm, rmdir, stat, statfs, type FileHandle } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve, sep } from "node:path";
import {
  BackendError,
  IntegrityError,
  InvalidKeyError,
  InvalidRangeError,
  NotFoundError,
  RangeConfigError,
  abortErrorFrom,
  createObjectStore,
  type DriverCopyOptions,
  isRangeStoreError,
  type DriverListOptions,
  type DriverOpenOptions,
  type DriverReadOptions,
  type DriverReader,
  type DriverWriteOptions,
  type ObjectMeta,
  type ObjectStore,
  type RangeEngineOptions,
  type StoreDriver,
} from "@range/core";
import { parallelReadResultMemory } from "@range/aligned-memory";

export interface FileStoreOptions {
  /** Absolute path of the directory that holds the objects. Keys never resolve outside it. */
  root: string;
  /** Engine defaults for this store's reads. */
  engine?: RangeEngineOptions;
  /** fsync each written file and its directory before `put` resolves. Default false. */
  fsync?: boolean;
  /**
   * Allocate `get` results of ≥ 2 MiB that go through the engine from `@range/aligned-memory` when its native
   * allocator is built: the memory of an earlier result the GC released when one fits (already faulted in), else
   * transparent huge pages while they are cheap to fault in (each range probes its own part on a pool thread before
   * reading), ordinary pages for the rest of the buffer once one is not. Default true; false: `Buffer.allocUnsafeSlow`.
   */
  hugePages?: boolean;
  /**
   * Follow symbolic links, wherever they point. Default false: a key that names a symlink, or passes through a
   * symlinked directory that leads outside the root, is an `InvalidKeyError`, and listings skip symlinks.
   */
  followSymlinks?: boolean;
}

/** Suffix of in-progress writes; listings never show them. */
const TEMP_SUFFIX = ".range-tmp";
/** Largest single pread: a range reports progress (for the stall timer) at least this often. */
const MAX_PREAD = 16 * 1024 * 1024;
/** Stats issued at once while listing a directory. */
const LIST_STAT_CONCURRENCY = 32;
const RETRYABLE_CODES = new Set(["EMFILE", "ENFILE", "EAGAIN", "EBUSY", "EINTR", "EIO", "ETIMEDOUT"]);
/**
 * `statfs` magic numbers of local file systems, where `fstat` of an open descriptor reads the in-memory inode and
 * never waits for a device or a server: ext2/3/4, XFS, btrfs, tmpfs, overlayfs, F2FS, ZFS, ramfs, bcachefs.
 */
const LOCAL_FS_TYPES = new Set([0xef53, 0x58465342, 0x9123683e, 0x01021994, 0x794c7630, 0xf2f52010, 0x2fc12fc1, 0x858458f6, 0xca451a4e]);

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

function isTempName(name: string): boolean {
  return name.startsWith(".") && name.endsWith(TEMP_SUFFIX);
}

function etagOf(st: BigIntStats): string {
  return `"${st.ino.toString(16)}-${st.size.toString(16)}-${st.mtimeNs.toString(16)}"`;
}

function metaOf(key: string, st: BigIntStats): ObjectMeta {
  return { key, size: Number(st.size), etag: etagOf(st), lastModified: st.mtime };
}

/** Maps a file system error on `key` to the typed error a caller can act on. */
function mapError(error: unknown, key: string, action: string): unknown {
  if (isRangeStoreError(error)) return error;
  const code = errnoCode(error);
  if (code === undefined) return error;
  const what = `${action} ${JSON.stringify(key)}`;
  if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR") {
    return new NotFoundError(`file object ${JSON.stringify(key)} not found`, { key, cause: error });
  }
  if (code === "ELOOP") return new InvalidKeyError(`${what}: the key names a symbolic link (followSymlinks is off)`, { cause: error });
  return new BackendError(`${what} failed: ${code}`, { code: `E_FS_${code}`, retryable: RETRYABLE_CODES.has(code), cause: error });
}

/** A file that ended before the size it had when the read began: changed under the reader. */
export function shrankError(key: string): IntegrityError {
  return new IntegrityError(`file ${JSON.stringify(key)} shrank while it was being read`, { code: "E_OBJECT_CHANGED" });
}

/** Reads exactly `out.length` bytes at `position`, in pieces, reporting progress after each. */
async function preadFully(
  handle: FileHandle,
  out: Uint8Array,
  position: number,
  key: string,
  opts: DriverReadOptions,
): Promise<Uint8Array> {
  for (let done = 0; done < out.length; ) {
    if (opts.signal?.aborted) throw abortErrorFrom(opts.signal);
    const want = Math.min(MAX_PREAD, out.length - done);
    const { bytesRead } = await handle.read(out, done, want, position + done);
    if (bytesRead === 0) {
      throw shrankError(key);
    }
    done += bytesRead;
    opts.progress?.();
  }
  return out;
}

/**
 * The `file://` driver. Exported so another local backend (e.g. `@range/directio`) can reuse its paths, symlink
 * policy, listing and atomic rename, and replace only how bytes move: `readFlags`, `readRange`, `writeData`.
 */
export class FileDriver implements StoreDriver {
  readonly scheme: string = "file";
  readonly #root: string;
  /** The root with a trailing separator: every object path starts with it. */
  readonly #rootPrefix: string;
  readonly #fsync: boolean;
  readonly #follow: boolean;
  #realRoot: Promise<string> | undefined;
  /**
   * The device of the root when it is on a local file system (then an open file's `fstat` runs synchronously: it
   * costs ~2 µs, while a thread-pool round trip is a quarter of a small read's CPU), else null; undefined until known.
   */
  #localDev: bigint | null | undefined;
  /** Directories already proven to resolve inside the root (symlink check), so hot paths pay for it once. */
  readonly #safeDirs = new Set<string>();
  /** Server-side copy (see {@link StoreDriver.copy}); absent in subclasses that change how files are opened. */
  declare readonly copy?: (srcKey: string, dstKey: string, opts: DriverCopyOptions) => Promise<ObjectMeta>;

  constructor(options: FileStoreOptions) {
    this.#root = resolve(options.root);
    this.#rootPrefix = this.#root.endsWith(sep) ? this.#root : this.#root + sep;
    this.#fsync = options.fsync ?? false;
    this.#follow = options.followSymlinks ?? false;
    // The kernel's copy bypasses `openFile`: a subclass that opens files its own way (directio's O_DIRECT) would be
    // copied through the page cache behind its back, so it reads and writes instead.
    if (this.openFile === FileDriver.prototype.openFile) this.copy = (srcKey, dstKey, opts) => this.#copy(srcKey, dstKey, opts);
  }

  #path(key: string): string {
    const path = join(this.#root, ...key.split("/"));
    // Core already rejects "..", absolute and NUL keys; this is the last line of defence.
    if (!path.startsWith(this.#rootPrefix)) throw new InvalidKeyError(`key ${JSON.stringify(key)} resolves outside the store root`);
    return path;
  }

  /** With followSymlinks off, proves the directory holding `key` does not lead outside the root through a symlink. */
  async #checkParent(key: string, path: string): Promise<void> {
    if (this.#follow || !key.includes("/")) return;
    const dir = dirname(path);
    if (this.#safeDirs.has(dir)) return;
    this.#realRoot ??= realpath(this.#root).catch((error: unknown) => {
      this.#realRoot = undefined;
      throw error;
    });
    let realRoot: string;
    let realDir: string;
    try {
      realRoot = await this.#realRoot;
      realDir = await realpath(dir);
    } catch (error) {
      throw mapError(error, key, "resolve");
    }
    if (realDir !== realRoot && !realDir.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep)) {
      throw new InvalidKeyError(`key ${JSON.stringify(key)} passes through a symbolic link that leads outside the store root`);
    }
    if (this.#safeDirs.size > 10_000) this.#safeDirs.clear();
    this.#safeDirs.add(dir);
  }

  async #openForRead(key: string): Promise<{ handle: FileHandle; meta: ObjectMeta }> {
    const path = this.#path(key);
    await this.#checkParent(key, path);
    let handle: FileHandle;
    try {
      handle = await this.openFile(path, fsConstants.O_RDONLY | (this.#follow ? 0 : fsConstants.O_NOFOLLOW));
    } catch (error) {
      throw mapError(error, key, "open");
    }
    try {
      const st = await this.#fstat(handle);
      if (!st.isFile()) throw new NotFoundError(`file object ${JSON.stringify(key)} not found (not a regular file)`, { key });
      return { handle, meta: metaOf(key, st) };
    } catch (error) {
      await handle.close();
      throw mapError(error, key, "stat");
    }
  }

  /** `fstat` of an open file: synchronous on the root's own local file system, else on the thread pool. */
  async #fstat(handle: FileHandle): Promise<BigIntStats> {
    if (this.#localDev === undefined) this.#localDev = await this.#rootDevIfLocal();
    if (this.#localDev === null) return handle.stat({ bigint: true });
    const st = fstatSync(handle.fd, { bigint: true });
    // A mount below the root may be remote or FUSE, where fstat can wait on a server: from now on, off the loop.
    if (st.dev !== this.#localDev) this.#localDev = null;
    return st;
  }

  async #rootDevIfLocal(): Promise<bigint | null> {
    try {
      const [fs, st] = await Promise.all([statfs(this.#root, { bigint: true }), stat(this.#root, { bigint: true })]);
      return LOCAL_FS_TYPES.has(Number(fs.type)) ? st.dev : null;
    } catch {
      return null;
    }
  }

  async stat(key: string): Promise<ObjectMeta> {
    const path = this.#path(key);
    await this.#checkParent(key, path);
    let st: BigIntStats;
    try {
      st = this.#follow ? await stat(path, { bigint: true }) : await lstat(path, { bigint: true });
    } catch (error) {
      throw mapError(error, key, "stat");
    }
    if (st.isSymbolicLink()) throw new InvalidKeyError(`key ${JSON.stringify(key)} names a symbolic link (followSymlinks is off)`);
    if (!st.isFile()) throw new NotFoundError(`file object ${JSON.stringify(key)} not found (not a regular file)`, { key });
    return metaOf(key, st);
  }

  /** One open shared by every range of a read; a file below `headLength` is read whole right away. */
  async openReader(key: string, opts: DriverOpenOptions): Promise<DriverReader> {
    if (opts.signal?.aborted) throw abortErrorFrom(opts.signal);
    const { handle, meta } = await this.#openForRead(key);
    try {
      let head: Uint8Array | undefined;
      if (meta.size < opts.headLength) {
        head = meta.size === 0 ? new Uint8Array(0) : await this.readRange(handle, meta, 0, meta.size, opts);
      }
      return {
        meta,
        ...(head ? { head } : {}),
        read: (offset, length, readOpts) => this.#readAt(handle, meta, offset, length, readOpts),
        // FileHandle.close() waits for reads still running on it, so no read lands after the caller moved on.
        close: () => handle.close(),
      };
    } catch (error) {
      await handle.close();
      throw mapError(error, key, "read");
    }
  }

  #readAt(handle: FileHandle, meta: ObjectMeta, offset: number, length: number, opts: DriverReadOptions): Promise<Uint8Array> {
    if (offset + length > meta.size) {
      return Promise.reject(
        new InvalidRangeError(`range [${offset}, ${offset + length}) is past the end of ${JSON.stringify(meta.key)} (${meta.size} bytes)`),
      );
    }
    return this.readRange(handle, meta, offset, length, opts).catch((error: unknown) => {
      throw mapError(error, meta.key, "read");
    });
  }

  /** Opens an object to read, or the temporary file of a put (`O_WRONLY | O_CREAT | O_EXCL`). */
  protected openFile(path: string, flags: number, mode?: number): Promise<FileHandle> {
    return open(path, flags, mode);
  }

  /**
   * Reads `length` bytes at `offset` (already checked against the size) into `opts.target` or a new buffer. Must
   * not write to `opts.target` after `opts.signal` aborts.
   */
  protected readRange(handle: FileHandle, meta: ObjectMeta, offset: number, length: number, opts: DriverReadOptions): Promise<Uint8Array> {
    return preadFully(handle, opts.target ?? Buffer.allocUnsafeSlow(length), offset, meta.key, opts);
  }

  /** Writes the whole object to the temporary file. */
  protected async writeData(handle: FileHandle, data: Uint8Array | AsyncIterable<Uint8Array>, signal: AbortSignal | undefined): Promise<void> {
    let position = 0;
    const writeChunk = async (chunk: Uint8Array) => {
      for (let done = 0; done < chunk.length; ) {
        const { bytesWritten } = await handle.write(chunk, done, chunk.length - done, position);
        done += bytesWritten;
        position += bytesWritten;
      }
    };
    if (data instanceof Uint8Array) {
      await writeChunk(data);
      return;
    }
    for await (const chunk of data) {
      if (signal?.aborted) throw abortErrorFrom(signal);
      await writeChunk(chunk);
    }
  }

  async read(key: string, offset: number, length: number, opts: DriverReadOptions): Promise<Uint8Array> {
    const { handle, meta } = await this.#openForRead(key);
    try {
      return await this.#readAt(handle, meta, offset, length, opts);
    } finally {
      await handle.close();
    }
  }

  async write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts: DriverWriteOptions): Promise<ObjectMeta> {
    const path = this.#path(key);
    const dir = dirname(path);
    const temp = join(dir, `.${path.slice(dir.length + 1)}.${randomBytes(6).toString("hex")}${TEMP_SUFFIX}`);
    const handle = await this.#createTemp(key, path, temp);
    let closed = false;
    try {
      await this.writeData(handle, data, opts.signal);
      if (opts.signal?.aborted) throw abortErrorFrom(opts.signal);
      if (this.#fsync) await handle.sync();
      const st = await handle.stat({ bigint: true });
      closed = true;
      await handle.close();
      await rename(temp, path);
      if (this.#fsync) await this.#syncDir(dir);
      return metaOf(key, st);
    } catch (error) {
      if (!closed) await handle.close().catch(() => {});
      await rm(temp, { force: true });
      throw mapError(error, key, "write");
    }
  }

  /**
   * `fs.copyFile` into a temp file beside the destination, then rename: a reflink where the file system has them
   * (btrfs, XFS), else an in-kernel `copy_file_range`; the bytes never pass through this process.
   */
  async #copy(srcKey: string, dstKey: string, opts: DriverCopyOptions): Promise<ObjectMeta> {
    if (opts.signal?.aborted) throw abortErrorFrom(opts.signal);
    await this.stat(srcKey); // NotFoundError, and the symlink policy, before anything is created
    const srcPath = this.#path(srcKey);
    const path = this.#path(dstKey);
    const dir = dirname(path);
    const temp = join(dir, `.${path.slice(dir.length + 1)}.${randomBytes(6).toString("hex")}${TEMP_SUFFIX}`);
    await (await this.#createTemp(dstKey, path, temp)).close();
    try {
      try {
        await copyFile(srcPath, temp, fsConstants.COPYFILE_FICLONE);
      } catch (error) {
        throw mapError(error, srcKey, "copy");
      }
      if (opts.signal?.aborted) throw abortErrorFrom(opts.signal);
      const handle = await open(temp, "r");
      let st: BigIntStats;
      try {
        if (this.#fsync) await handle.sync();
        st = await handle.stat({ bigint: true });
      } finally {
        await handle.close();
      }
      await rename(temp, path);
      if (this.#fsync) await this.#syncDir(dir);
      return metaOf(dstKey, st);
    } catch (error) {
      await rm(temp, { force: true });
      throw mapError(error, dstKey, "copy");
    }
  }

  /** Creates the temp file, making parent directories; retries when a concurrent delete pruned them meanwhile. */
  async #createTemp(key: string, path: string, temp: string): Promise<FileHandle> {
    for (let attempt = 1; ; attempt++) {
      try {
        await mkdir(dirname(path), { recursive: true });
        await this.#checkParent(key, path);
        return await this.openFile(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o666);
      } catch (error) {
        const code = errnoCode(error);
        if (code === "ENOENT" && attempt < 5) continue;
        if (code === "ENOTDIR" || code === "EEXIST") {
          throw new BackendError(`cannot write ${JSON.stringify(key)}: a parent of it is a file, not a directory`, {
            code: "E_KEY_CONFLICT",
            cause: error,
          });
        }
        throw mapError(error, key, "create");
      }
    }
  }

  async #syncDir(dir: string): Promise<void> {
    const handle = await open(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async *list(prefix: string, opts: DriverListOptions): AsyncIterable<ObjectMeta> {
    const slash = prefix.lastIndexOf("/");
    const dirKey = prefix.slice(0, slash + 1);
    const namePrefix = prefix.slice(slash + 1);
    const dir = dirKey === "" ? this.#root : join(this.#root, ...dirKey.slice(0, -1).split("/"));
    if (dirKey !== "") {
      try {
        await this.#checkParent(`${dirKey}x`, join(dir, "x"));
      } catch (error) {
        if (NotFoundError.isInstance(error)) return;
        throw error;
      }
    }
    yield* this.#walk(dir, dirKey, namePrefix, opts);
  }

  /** Lists one directory, sorted so the overall order is the byte order of full keys (a directory sorts as "name/"). */
  async *#walk(dir: string, dirKey: string, namePrefix: string, opts: DriverListOptions): AsyncIterable<ObjectMeta> {
    if (opts.signal?.aborted) throw abortErrorFrom(opts.signal);
    let dirents: Dirent[];
    try {
      dirents = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      const code = errnoCode(error);
      if (code === "ENOENT" || code === "ENOTDIR") return;
      throw mapError(error, dirKey, "list");
    }
    const entries: { name: string; isDir: boolean; sortKey: string }[] = [];
    for (const dirent of dirents) {
      if (!dirent.name.startsWith(namePrefix) || isTempName(dirent.name)) continue;
      let isDir = dirent.isDirectory();
      if (dirent.isSymbolicLink()) {
        if (!this.#follow) continue;
        const target = await stat(join(dir, dirent.name)).catch(() => undefined);
        if (!target) continue;
        isDir = target.isDirectory();
      } else if (!isDir && !dirent.isFile()) {
        continue;
      }
      entries.push({ name: dirent.name, isDir, sortKey: isDir ? `${dirent.name}/` : dirent.name });
    }
    entries.sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));

    for (let i = 0; i < entries.length; ) {
      // Stat files in small parallel batches: listing 10,000 keys must not be 10,000 sequential round trips.
      const batch = entries.slice(i, i + LIST_STAT_CONCURRENCY);
      i += batch.length;
      const stats = await Promise.all(
        batch.map((e) => (e.isDir ? undefined : stat(join(dir, e.name), { bigint: true }).catch(() => undefined))),
      );
      for (let j = 0; j < batch.length; j++) {
        const entry = batch[j]!;
        const key = dirKey + entry.name;
        if (entry.isDir) {
          if (opts.recursive) yield* this.#walk(join(dir, entry.name), `${key}/`, "", opts);
          else yield { key: `${key}/`, size: 0, isPrefix: true };
        } else {
          const st = stats[j];
          if (st) yield metaOf(key, st); // gone since readdir: skip, as an object store listing would
        }
      }
    }
  }

  /** `deletePrefix` passes its signal (checked before the unlink, which cannot be interrupted). */
  async delete(key: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (opts.signal?.aborted) throw abortErrorFrom(opts.signal);
    const path = this.#path(key);
    try {
      await rm(path);
    } catch (error) {
      const code = errnoCode(error);
      if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR" || code === "ERR_FS_EISDIR") return;
      throw mapError(error, key, "delete");
    }
    await this.#pruneEmptyParents(dirname(path));
  }

  /** Object stores have no empty "directories": remove the ones a delete left behind, up to the root. */
  async #pruneEmptyParents(dir: string): Promise<void> {
    while (dir.startsWith(this.#rootPrefix)) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty, already gone, or not ours to remove
      }
      this.#safeDirs.delete(dir);
      dir = dirname(dir);
    }
  }
}

/**
 * Threads in libuv's pool, which runs every file read (`UV_THREADPOOL_SIZE`, default 4). Ranges in flight beyond it
 * only queue, and cost CPU: measured with packages/file/bench, 4 in flight beat 8 and 32 at 8–64 MiB.
 */
function threadPoolSize(): number {
  const size = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? "", 10);
  return Number.isInteger(size) && size >= 1 && size <= 1024 ? size : 4;
}

/**
 * Engine defaults for local files: one range in flight per libuv pool thread unless the caller says otherwise. Not an
 * object: passed on unchanged, for core to reject with a typed error.
 */
export function localEngineOptions(engine: RangeEngineOptions | undefined): RangeEngineOptions {
  if (engine !== undefined && (typeof engine !== "object" || engine === null)) return engine;
  return { maxConcurrentRanges: threadPoolSize(), ...engine };
}

/** Checks the options every local store shares. */
export function checkFileStoreOptions(options: FileStoreOptions, name: string): void {
  if (typeof options !== "object" || options === null) {
    throw new RangeConfigError(`${name} needs { root }`, { code: "E_INVALID_OPTION" });
  }
  if (typeof options.root !== "string" || !isAbsolute(options.root) || options.root.includes("\0")) {
    throw new RangeConfigError(`${name}: root must be an absolute path, got ${JSON.stringify(options.root)}`, {
      code: "E_INVALID_OPTION",
    });
  }
  for (const flag of ["fsync", "followSymlinks", "hugePages"] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== "boolean") {
      throw new RangeConfigError(`${name}: ${flag} must be a boolean, got ${JSON.stringify(options[flag]) ?? typeof options[flag]}`, {
        code: "E_INVALID_OPTION",
      });
    }
  }
}

/** A store over a local directory: `get` of a large file runs concurrent positioned reads into one buffer. */
export function createFileStore(options: FileStoreOptions): ObjectStore {
  checkFileStoreOptions(options, "createFileStore");
  return createObjectStore(new FileDriver(options), {
    engine: localEngineOptions(options.engine),
    ...(options.hugePages === false ? {} : parallelReadResultMemory),
  });
}
