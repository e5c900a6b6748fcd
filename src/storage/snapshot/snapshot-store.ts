import { join } from 'node:path';
import { assert } from '../../raft/assert.js';
import { ConfigError, type FlotillaError } from '../../raft/errors.js';
import type { Index, SnapshotMeta as RaftSnapshotMeta, Term } from '../../raft/types.js';
import { ensureDir } from '../fs/ensure-dir.js';
import { type FileLayer, hasErrorCode, type OpenFile } from '../fs/file-layer.js';
import { NodeFileLayer } from '../fs/node-file-layer.js';
import { crc32cUpdate } from '../wal/crc32c.js';
import { FsyncFailedError } from '../wal/errors.js';
import { SnapshotCorruptionError } from './errors.js';
import {
  decodeHeader,
  encodeHeader,
  HEADER_PREFIX_BYTES,
  headerBytes,
  headerLength,
  isSnapshotTempName,
  normalizeMeta,
  parseSnapshotFileName,
  type SnapshotMeta,
  snapshotFileName,
} from './snapshot-file.js';

/** Where snapshots live and how they are read. */
export interface SnapshotStoreOptions {
  /** The folder of the snapshot files; created when missing. */
  dir: string;
  /** The largest chunk `open()` yields (default 1 MiB). */
  chunkBytes?: number;
  fs?: FileLayer;
  /** Told when a damaged snapshot is skipped for an older one. Default: console.warn. */
  onWarning?: (message: string) => void;
}

/**
 * What a new snapshot is about — its index, term and the whole configuration there (voters,
 * learners, outgoing voters, addresses); the data arrives through the writer.
 */
export type SnapshotDescription = RaftSnapshotMeta;

export const CHUNK_BYTES_DEFAULT = 1024 * 1024;

let tempCounter = 0;

/**
 * Snapshot files in one folder. A snapshot is written under a temporary name, fsynced, renamed
 * into place and the folder fsynced, so a crash leaves either the old snapshot or the new one
 * whole, never a partial file under a snapshot's name.
 */
export class SnapshotStore {
  private constructor(
    private readonly fs: FileLayer,
    private readonly dir: string,
    private readonly chunkBytes: number,
    private readonly onWarning: (message: string) => void,
  ) {}

  /** Opens the folder and removes temporary files that a crashed writer left. */
  static async open(options: SnapshotStoreOptions): Promise<SnapshotStore> {
    const fs = options.fs ?? new NodeFileLayer();
    const chunkBytes = options.chunkBytes ?? CHUNK_BYTES_DEFAULT;
    if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1) {
      throw new ConfigError(`snapshot-store: chunkBytes must be a positive integer, got ${chunkBytes}`);
    }
    await ensureDir(fs, options.dir);
    let removed = 0;
    for (const name of await fs.readdir(options.dir)) {
      if (!isSnapshotTempName(name)) continue;
      await fs.unlink(join(options.dir, name));
      removed++;
    }
    if (removed > 0) await syncDir(fs, options.dir);
    const warn = options.onWarning ?? ((message: string) => console.warn(message));
    return new SnapshotStore(fs, options.dir, chunkBytes, warn);
  }

  /** Starts writing a snapshot; nothing is visible under its name until `commit()` resolves. */
  create(description: SnapshotDescription): SnapshotWriter {
    return new SnapshotWriter(this.fs, this.dir, description);
  }

  /**
   * The newest snapshot whose header and data checksums verify. A damaged newer one is reported
   * through `onWarning` and skipped. Rejects with `SnapshotCorruptionError` when snapshots exist
   * but none is valid; resolves undefined when there is none.
   */
  async latest(): Promise<SnapshotMeta | undefined> {
    const names = await this.names();
    for (const name of names) {
      const problem = await verifySnapshotFile(this.fs, this.dir, name, this.chunkBytes);
      if (typeof problem !== 'string') return problem;
      this.onWarning(
        `snapshot ${join(this.dir, name)} is damaged (${problem}); falling back to an older snapshot`,
      );
    }
    if (names.length === 0) return undefined;
    throw new SnapshotCorruptionError(this.dir, `none of the ${names.length} snapshot files is valid`);
  }

  /** The snapshots whose headers read back, newest first (their data is not verified). */
  async list(): Promise<SnapshotMeta[]> {
    const out: SnapshotMeta[] = [];
    for (const name of await this.names()) {
      const meta = await this.readHeader(name);
      if (typeof meta !== 'string') out.push(meta);
    }
    return out;
  }

  /**
   * The data of the snapshot at (`meta.index`, `meta.term`) as chunks of at most `chunkBytes`,
   * from byte `offset` of the data on (to resume a transfer). Only one chunk is in memory at a
   * time. When `meta` carries a checksum it must match the file's. Reading from offset 0 also
   * verifies the data checksum, rejecting with `SnapshotCorruptionError` after the last chunk
   * when it does not match: discard what was read.
   */
  async *open(
    meta: { readonly index: Index; readonly term: Term; readonly checksum?: number },
    options: { offset?: number; chunkBytes?: number } = {},
  ): AsyncGenerator<Uint8Array, void, undefined> {
    const offset = options.offset ?? 0;
    const chunkBytes = options.chunkBytes ?? this.chunkBytes;
    assert(Number.isSafeInteger(chunkBytes) && chunkBytes >= 1, `snapshot-store: chunkBytes ${chunkBytes}`);
    const name = snapshotFileName(meta.index, meta.term);
    const file = await this.fs.open(join(this.dir, name), 'r');
    try {
      const read = await readHeaderFrom(file, name);
      if (typeof read === 'string') throw new SnapshotCorruptionError(name, read);
      const { meta: header, headerBytes: base } = read;
      if (header.index !== meta.index || header.term !== meta.term) {
        throw new SnapshotCorruptionError(name, 'its header disagrees with its name');
      }
      if (meta.checksum !== undefined && header.checksum !== meta.checksum) {
        throw new SnapshotCorruptionError(name, 'it is not the snapshot asked for (another checksum)');
      }
      assert(
        offset >= 0 && offset <= header.bytes,
        `snapshot-store: offset ${offset} outside [0, ${header.bytes}]`,
      );
      let crc = 0;
      for (let at = offset; at < header.bytes; ) {
        const chunk = new Uint8Array(Math.min(chunkBytes, header.bytes - at));
        const n = await readFully(file, chunk, base + at);
        if (n < chunk.length)
          throw new SnapshotCorruptionError(name, `data ends at byte ${at + n} of ${header.bytes}`);
        if (offset === 0) crc = crc32cUpdate(crc, chunk);
        at += n;
        yield chunk;
      }
      if (offset === 0 && crc !== header.checksum)
        throw new SnapshotCorruptionError(name, 'data checksum mismatch');
    } finally {
      await file.close();
    }
  }

  /**
   * Deletes every snapshot file but three: `current` (the one the log continues from: never
   * deleted, whatever lies around it), the newest one above it (received from a leader and maybe
   * about to be installed), and the newest one below it (a follower may still be reading it).
   * Keeping "the newest n" instead could delete `current` itself when received snapshots that
   * were never installed sit above it.
   */
  async retain(current: { index: Index; term: Term }): Promise<void> {
    const keep = snapshotFileName(current.index, current.term);
    let above: string | undefined;
    let below: string | undefined;
    const doomed: string[] = [];
    // Newest first.
    for (const name of await this.names()) {
      if (name === keep) continue;
      const at = parseSnapshotFileName(name)!;
      if (at.index > current.index && above === undefined) above = name;
      else if (at.index <= current.index && below === undefined) below = name;
      else doomed.push(name);
    }
    for (const name of doomed) await this.fs.unlink(join(this.dir, name));
    if (doomed.length > 0) await syncDir(this.fs, this.dir);
  }

  private names(): Promise<string[]> {
    return snapshotNames(this.fs, this.dir);
  }

  private async readHeader(name: string): Promise<SnapshotMeta | string> {
    const file = await this.fs.open(join(this.dir, name), 'r');
    try {
      const read = await readHeaderFrom(file, name);
      return typeof read === 'string' ? read : read.meta;
    } finally {
      await file.close();
    }
  }
}

/**
 * Writes one snapshot: `write()` the data in chunks, then `commit()` — or `abort()`. The data goes
 * to a temporary file after room for the header; `commit()` writes the header (now that the
 * length and checksum are known), fdatasyncs, renames into place and fsyncs the folder.
 */
export class SnapshotWriter {
  private file: OpenFile | undefined;
  private readonly tempPath: string;
  private readonly finalName: string;
  private readonly description: SnapshotDescription;
  private readonly base: number;
  private written = 0;
  private crc = 0;
  private done = false;
  private failure: FlotillaError | Error | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  /** @internal Use `SnapshotStore.create`. */
  constructor(
    private readonly fs: FileLayer,
    private readonly dir: string,
    description: SnapshotDescription,
  ) {
    // Normalised as the header reads back, so commit()'s meta equals what latest() returns.
    this.description = normalizeMeta(description);
    this.finalName = snapshotFileName(description.index, description.term);
    this.tempPath = join(dir, `${this.finalName}.${process.pid}-${++tempCounter}.tmp`);
    this.base = headerBytes(this.description);
  }

  /** Appends a chunk of the snapshot's data. */
  write(chunk: Uint8Array): Promise<void> {
    return this.run(async () => {
      const file = await this.opened();
      await file.write(chunk, this.base + this.written);
      this.crc = crc32cUpdate(this.crc, chunk);
      this.written += chunk.length;
    });
  }

  /** Makes the snapshot durable under its name; resolves with its meta. */
  commit(): Promise<SnapshotMeta> {
    return this.run(async () => {
      const file = await this.opened();
      const meta = { ...this.description, bytes: this.written, checksum: this.crc, file: this.finalName };
      const header = encodeHeader(meta);
      assert(
        header.length === this.base,
        `snapshot-writer: header of ${header.length} bytes, not ${this.base}`,
      );
      await file.write(header, 0);
      try {
        await file.datasync();
      } catch (err) {
        throw new FsyncFailedError(this.tempPath, err);
      }
      this.file = undefined;
      await file.close();
      // rename(2) replaces atomically; it is durable once the folder is fsynced.
      await this.fs.rename(this.tempPath, join(this.dir, this.finalName));
      await syncDir(this.fs, this.dir);
      this.done = true;
      return meta;
    });
  }

  /** Drops the snapshot being written (also after a failed step). Idempotent. */
  async abort(): Promise<void> {
    await this.queue;
    if (this.done) return;
    this.done = true;
    const file = this.file;
    if (file === undefined) return;
    this.file = undefined;
    await file.close();
    try {
      await this.fs.unlink(this.tempPath);
    } catch (err) {
      // Gone already is what abort wants; anything else the caller should hear about.
      if (!hasErrorCode(err, 'ENOENT')) throw err;
    }
  }

  private run<T>(op: () => Promise<T>): Promise<T> {
    const result = this.queue.then(() => {
      if (this.failure !== undefined) throw this.failure;
      assert(!this.done, 'snapshot-writer: used after commit() or abort()');
      return op();
    });
    this.queue = result.then(
      () => undefined,
      (err: unknown) => {
        // One failed step leaves the temporary file unknown: the writer refuses further calls.
        this.failure ??= err instanceof Error ? err : new Error(String(err));
      },
    );
    return result;
  }

  private async opened(): Promise<OpenFile> {
    // 'wx': the temporary name is unique to this writer; an existing file means a bug.
    this.file ??= await this.fs.open(this.tempPath, 'wx');
    return this.file;
  }
}

/** Snapshot file names in `dir`, newest (highest index, then term) first. */
export async function snapshotNames(fs: FileLayer, dir: string): Promise<string[]> {
  const names = (await fs.readdir(dir)).filter((n) => parseSnapshotFileName(n) !== undefined);
  return names.sort().reverse();
}

/**
 * Reads snapshot file `name` through, a chunk at a time: its meta when header, name, size and
 * data checksum all agree, else the reason it is damaged. Changes nothing.
 */
export async function verifySnapshotFile(
  fs: FileLayer,
  dir: string,
  name: string,
  chunkBytes = CHUNK_BYTES_DEFAULT,
): Promise<SnapshotMeta | string> {
  const file = await fs.open(join(dir, name), 'r');
  try {
    const read = await readHeaderFrom(file, name);
    if (typeof read === 'string') return read;
    const { meta, headerBytes: base } = read;
    const named = parseSnapshotFileName(name);
    if (named?.index !== meta.index || named.term !== meta.term) return 'its header disagrees with its name';
    const size = await file.size();
    if (size !== base + meta.bytes) return `${size - base} data bytes where the header says ${meta.bytes}`;
    const chunk = new Uint8Array(Math.min(chunkBytes, Math.max(1, meta.bytes)));
    let crc = 0;
    for (let at = 0; at < meta.bytes; ) {
      const n = await readFully(file, chunk.subarray(0, Math.min(chunk.length, meta.bytes - at)), base + at);
      if (n === 0) return `data ends at byte ${at}`;
      crc = crc32cUpdate(crc, chunk, 0, n);
      at += n;
    }
    return crc === meta.checksum ? meta : 'data checksum mismatch';
  } finally {
    await file.close();
  }
}

/** A file's header: its meta and its length H, where the data starts (it depends on the version). */
async function readHeaderFrom(
  file: OpenFile,
  name: string,
): Promise<{ meta: SnapshotMeta; headerBytes: number } | string> {
  const prefix = new Uint8Array(HEADER_PREFIX_BYTES);
  const n = await readFully(file, prefix, 0);
  const size = headerLength(prefix.subarray(0, n));
  if (typeof size === 'string') return size;
  const header = new Uint8Array(size);
  if ((await readFully(file, header, 0)) < size) return 'the file ends inside its header';
  const meta = decodeHeader(header, name);
  return typeof meta === 'string' ? meta : { meta, headerBytes: size };
}

async function readFully(file: OpenFile, into: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < into.length) {
    const n = await file.read(into.subarray(done), position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

async function syncDir(fs: FileLayer, dir: string): Promise<void> {
  try {
    await fs.syncDir(dir);
  } catch (err) {
    throw new FsyncFailedError(dir, err);
  }
}
