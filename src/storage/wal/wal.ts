import { join } from 'node:path';
import { assert } from '../../raft/assert.js';
import { ConfigError, type FlotillaError } from '../../raft/errors.js';
import { type Entry, type HardState, type Index, index, type Term } from '../../raft/types.js';
import { ensureDir } from '../fs/ensure-dir.js';
import type { FileLayer, OpenFile } from '../fs/file-layer.js';
import { NodeFileLayer } from '../fs/node-file-layer.js';
import { FsyncFailedError, WalWriteError } from './errors.js';
import { entryRecordBytes, RecordEncoder } from './record.js';
import { type RecordArena, recordArena } from './record-arena.js';
import { type SnapshotPosition, scanWal } from './replay.js';
import { segmentName } from './segment-name.js';
import { TermRuns } from './term-runs.js';

/** Where the WAL lives and how it writes. */
export interface WalOptions {
  /** The folder of the segment files; created when missing. Give the WAL a folder of its own. */
  dir: string;
  /** A segment is sealed and a new one started once it passes this size (default 64 MiB). */
  segmentBytes?: number;
  /** The file layer (default: the real file system). Tests pass a SimulatedDisk's. */
  fs?: FileLayer;
  /**
   * How a save is made durable (default `WAL_SYNC_DEFAULT`): `fdatasync` writes the save with one
   * writev and then fdatasyncs — two trips through libuv's thread pool; `dsync` opens segments
   * with O_DSYNC, so the single writev returns once the save is on the disk — one trip. Both sync
   * once per save, however many entries it holds; bench/wal.ts measures them against each other.
   */
  sync?: WalSyncMode;
  /**
   * Called after each record write has been made durable, with how long that took (ms: the
   * fdatasync, or in `dsync` mode the whole write) and the bytes written: for metrics. Must not
   * throw. When absent the clock is not read.
   */
  onSync?: (fdatasyncMs: number, bytes: number) => void;
}

/** What `Wal.open` read back. */
export interface WalRecovered {
  hardState: HardState;
  snapshot: { index: Index; term: Term } | undefined;
  /** Contiguous, after every truncation is applied, starting right after snapshot.index (or at 1). */
  entries: Entry[];
}

/** What one Ready asks the WAL to make durable. */
export interface WalUpdate {
  entries: readonly Entry[];
  hardState?: HardState;
}

export const SEGMENT_BYTES_DEFAULT = 64 * 1024 * 1024;

/** See `WalOptions.sync`. */
export type WalSyncMode = 'fdatasync' | 'dsync';
export const WAL_SYNC_DEFAULT: WalSyncMode = 'dsync';
/** The encoding arena of each WAL: saves up to this size are encoded and checksummed in it. */
const ARENA_BYTES = 1024 * 1024;

interface Segment {
  readonly name: string;
  readonly seq: number;
  /** The highest entry index written into it (0 when none). */
  maxIndex: number;
}

/**
 * The write-ahead log: entries, hard state, truncations and snapshot markers appended to segment
 * files, each record checksummed (see docs/storage.md for the format and the durability argument).
 *
 * Every call is queued and runs alone, in call order. A write error or a failed fsync puts the WAL
 * in a failed state: that call and every later one rejects with the same error (`ERR_WAL_WRITE`,
 * `ERR_FSYNC_FAILED`), and the node must stop. `close()` still releases the open file.
 */
export class Wal {
  private failure: FlotillaError | undefined;
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();
  /** The segment being written, and its size (where the next record goes). */
  private file: OpenFile | undefined;
  private fileBytes = 0;
  /**
   * Where saves are encoded and checksummed, reused because saves run one at a time and each
   * awaits its own write (record-arena.ts). A save larger than it gets a buffer of its own, and
   * so does every save where WebAssembly is unavailable (the arena is then undefined).
   */
  private readonly arena: RecordArena | undefined = recordArena(ARENA_BYTES);

  private constructor(
    private readonly fs: FileLayer,
    private readonly dir: string,
    private readonly segmentBytes: number,
    /** Every segment on disk, oldest first; the last is `file`. */
    private readonly held: Segment[],
    private hard: HardState,
    private snapshot: SnapshotPosition | undefined,
    private readonly terms: TermRuns,
    private readonly onSync: ((fdatasyncMs: number, bytes: number) => void) | undefined,
    private readonly syncMode: WalSyncMode,
  ) {}

  /**
   * Replays the folder, cuts off a torn tail (ftruncate + fsync), then starts a new segment
   * headed by the recovered hard state and snapshot marker. Rejects with `WalCorruptionError`
   * when a damaged record is followed by a valid one.
   */
  static async open(options: WalOptions): Promise<{ wal: Wal; recovered: WalRecovered }> {
    const fs = options.fs ?? new NodeFileLayer();
    const segmentBytes = options.segmentBytes ?? SEGMENT_BYTES_DEFAULT;
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 1) {
      throw new ConfigError(`wal: segmentBytes must be a positive integer, got ${segmentBytes}`);
    }
    const syncMode = options.sync ?? WAL_SYNC_DEFAULT;
    if (syncMode !== 'fdatasync' && syncMode !== 'dsync') {
      throw new ConfigError(`wal: sync must be 'fdatasync' or 'dsync', got ${String(syncMode)}`);
    }
    await ensureDir(fs, options.dir);
    const scan = await scanWal(fs, options.dir);
    for (const cut of scan.torn) await truncateFile(fs, join(options.dir, cut.file), cut.offset);
    const terms = new TermRuns(scan.snapshot?.index ?? index(0));
    for (const e of scan.entries) terms.append(e.index, e.term);
    const held = scan.segments.map((s) => ({ name: s.name, seq: s.seq, maxIndex: s.maxIndex }));
    const wal = new Wal(
      fs,
      options.dir,
      segmentBytes,
      held,
      scan.hardState,
      scan.snapshot,
      terms,
      options.onSync,
      syncMode,
    );
    // A recovered WAL never appends to an old segment: the new one starts with the hard state
    // and snapshot marker, so every older segment can be released once the snapshot covers it.
    try {
      await wal.run(() => wal.startWithHead());
    } catch (err) {
      await wal.close();
      throw err;
    }
    const recovered = { hardState: scan.hardState, snapshot: scan.snapshot, entries: scan.entries };
    return { wal, recovered };
  }

  /** The index of the last entry held (the snapshot's index when none follows it). */
  get lastIndex(): Index {
    return this.terms.lastIndex;
  }

  /** The segment files held, oldest first (the last one is being written). */
  get segments(): readonly string[] {
    return this.held.map((s) => s.name);
  }

  /**
   * One Ready = one (vectored) write + one fdatasync, however many entries. Entries replace any
   * held from entries[0].index on (a truncation record is written first when
   * entries[0].index <= last index). Resolves once everything is durable.
   */
  save(update: WalUpdate): Promise<void> {
    return this.run(() => this.saveNow(update));
  }

  /**
   * Records that a snapshot at (index, term) is durable (call it after the snapshot file is
   * committed). Entries at and below `index` are dropped. If the WAL holds the entry at `index`
   * with this `term`, the entries after it are kept; otherwise the whole log is discarded
   * (Raft §7: a snapshot that disagrees with the log replaces it).
   */
  saveSnapshotMarker(index: Index, term: Term): Promise<void> {
    return this.run(() => this.saveSnapshotMarkerNow(index, term));
  }

  /**
   * Deletes the oldest segment files whose entries are all at or below `index` (pass
   * snapshotIndex − retainEntries), never the segment being written. Only a prefix of the
   * segments is deleted, oldest first with a folder fsync after each, so a crash midway leaves
   * no gap. `index` must not pass the latest snapshot marker.
   */
  releaseTo(index: Index): Promise<void> {
    return this.run(() => this.releaseToNow(index));
  }

  /** Waits for queued calls, then closes the segment file. Later calls are rejected. */
  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    if (this.closed) return;
    this.closed = true;
    const file = this.file;
    this.file = undefined;
    await file?.close();
  }

  private run(op: () => Promise<void>): Promise<void> {
    const result = this.queue.then(() => {
      if (this.failure !== undefined) throw this.failure;
      assert(!this.closed, 'wal: called after close()');
      return op();
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async startWithHead(): Promise<void> {
    const enc = new RecordEncoder(this.headBytes(this.hard, true));
    this.putHead(enc, this.hard, true);
    await this.write(enc, true);
  }

  private async saveNow(update: WalUpdate): Promise<void> {
    const { entries, hardState } = update;
    if (entries.length === 0 && hardState === undefined) return;
    const first = entries[0]?.index;
    const last = this.terms.lastIndex;
    const base = this.snapshot?.index ?? 0;
    let size = 0;
    if (first !== undefined) {
      assert(first > base, `wal: entries from ${first} reach into the snapshot at ${base}`);
      assert(first <= last + 1, `wal: entries from ${first} leave a gap after ${last}`);
      for (let k = 0; k < entries.length; k++) {
        const e = entries[k]!;
        assert(e.index === first + k, `wal: entry ${e.index} at position ${k} of a batch from ${first}`);
        size += entryRecordBytes(e);
      }
      if (first <= last) size += RecordEncoder.truncateBytes;
    }
    const rotate = this.file === undefined || this.fileBytes >= this.segmentBytes;
    const headHard = rotate || hardState !== undefined ? (hardState ?? this.hard) : undefined;
    const enc = new RecordEncoder(size + this.headBytes(headHard, rotate), this.arena);
    this.putHead(enc, headHard, rotate);
    if (first !== undefined && first <= last) enc.putTruncate(first);
    for (const e of entries) enc.putEntry(e);
    await this.write(enc, rotate);
    if (hardState !== undefined) this.hard = hardState;
    if (first !== undefined) {
      if (first <= last) this.terms.truncateFrom(first);
      for (const e of entries) this.terms.append(e.index, e.term);
      const segment = this.held[this.held.length - 1]!;
      segment.maxIndex = Math.max(segment.maxIndex, first + entries.length - 1);
    }
  }

  private async saveSnapshotMarkerNow(i: Index, t: Term): Promise<void> {
    const base = this.snapshot?.index ?? 0;
    if (this.snapshot !== undefined && i === base) {
      assert(
        t === this.snapshot.term,
        `wal: snapshot marker (${i}, ${t}) after (${i}, ${this.snapshot.term})`,
      );
      return;
    }
    assert(i > base, `wal: snapshot marker at ${i} goes back from ${base}`);
    const keep = this.terms.termAt(i) === t;
    const discard = !keep && this.terms.lastIndex > base;
    const rotate = this.file === undefined || this.fileBytes >= this.segmentBytes;
    const headHard = rotate ? this.hard : undefined;
    const size = this.headBytes(headHard, rotate) + RecordEncoder.snapshotBytes;
    const enc = new RecordEncoder(size);
    this.putHead(enc, headHard, rotate);
    // §7: a log that does not hold the snapshot's last entry is replaced by the snapshot — in one
    // record, so that a torn write cannot drop the log and keep the old snapshot.
    enc.putSnapshot(i, t, discard);
    await this.write(enc, rotate);
    if (discard) this.terms.truncateFrom(index(base + 1));
    this.terms.compactTo(i);
    this.snapshot = { index: i, term: t };
  }

  private async releaseToNow(upTo: Index): Promise<void> {
    const base = this.snapshot?.index ?? 0;
    assert(upTo <= base, `wal: releaseTo(${upTo}) passes the snapshot at ${base}`);
    while (this.held.length > 1 && this.held[0]!.maxIndex <= upTo) {
      const path = join(this.dir, this.held[0]!.name);
      await this.fs.unlink(path);
      this.held.shift();
      await this.syncDir();
    }
  }

  /** Bytes of the hard state (when given) and, on a new segment, the snapshot marker. */
  private headBytes(hs: HardState | undefined, rotate: boolean): number {
    let size = hs === undefined ? 0 : RecordEncoder.hardStateBytes(hs);
    if (rotate && this.snapshot !== undefined) size += RecordEncoder.snapshotBytes;
    return size;
  }

  private putHead(enc: RecordEncoder, hs: HardState | undefined, rotate: boolean): void {
    if (hs !== undefined) enc.putHardState(hs);
    if (rotate && this.snapshot !== undefined) enc.putSnapshot(this.snapshot.index, this.snapshot.term);
  }

  /**
   * Writes the encoded records with one write and one fdatasync, first starting a new segment
   * when `rotate` (then the folder is fsynced too, so the new name survives a crash before the
   * save is acknowledged). Any failure fails the WAL.
   */
  private async write(enc: RecordEncoder, rotate: boolean): Promise<void> {
    const bytes = enc.finish();
    if (rotate) await this.startSegment();
    const file = this.file!;
    const path = join(this.dir, this.held[this.held.length - 1]!.name);
    const onSync = this.onSync;
    if (this.syncMode === 'dsync') {
      // The segment is O_DSYNC: the write returns once the save is durable. An I/O error here may
      // come from the flush, so it is a failed sync as far as recovery goes: nothing can be
      // assumed about what reached the disk, and retrying could lose data.
      const started = onSync === undefined ? 0 : performance.now();
      try {
        await file.writev([bytes], this.fileBytes);
      } catch (err) {
        const io = (err as { code?: unknown } | null)?.code === 'EIO';
        throw this.fail(io ? new FsyncFailedError(path, err) : new WalWriteError(path, err));
      }
      if (onSync !== undefined) onSync(performance.now() - started, bytes.length);
    } else {
      try {
        // Positioned write at the end we track: no dependence on the file offset, and the offset
        // of every record is known without asking the kernel.
        await file.writev([bytes], this.fileBytes);
      } catch (err) {
        throw this.fail(new WalWriteError(path, err));
      }
      // fdatasync, not fsync: it flushes the data and the size (needed to read the data back) and
      // skips timestamps. One per save, however many entries.
      const started = onSync === undefined ? 0 : performance.now();
      try {
        await file.datasync();
      } catch (err) {
        throw this.fail(new FsyncFailedError(path, err));
      }
      if (onSync !== undefined) onSync(performance.now() - started, bytes.length);
    }
    this.fileBytes += bytes.length;
    if (rotate) await this.syncDir();
  }

  /** Opens the next segment file. Its name becomes durable with the folder fsync after the first write. */
  private async startSegment(): Promise<void> {
    const last = this.held[this.held.length - 1];
    const seq = last === undefined ? 1 : last.seq + 1;
    const name = segmentName(seq, index(this.terms.lastIndex + 1));
    const path = join(this.dir, name);
    let file: OpenFile;
    try {
      // 'wx' (O_CREAT | O_EXCL | O_WRONLY): a segment is only ever created, never reopened for
      // writing, so an existing file with this name is a bug or a second process, never ours to
      // overwrite. No O_APPEND (writes are positioned). O_DSYNC ('wxd') only in `dsync` mode:
      // a save is one write, so a sync per write is still one sync per save. Never O_SYNC: it
      // also flushes timestamps, which recovery does not need.
      file = await this.fs.open(path, this.syncMode === 'dsync' ? 'wxd' : 'wx');
    } catch (err) {
      throw this.fail(new WalWriteError(path, err));
    }
    const old = this.file;
    const oldPath = last === undefined ? path : join(this.dir, last.name);
    this.file = file;
    this.fileBytes = 0;
    this.held.push({ name, seq, maxIndex: 0 });
    // The old segment was fdatasynced by the save that filled it; nothing more will be written.
    try {
      await old?.close();
    } catch (err) {
      throw this.fail(new WalWriteError(oldPath, err));
    }
  }

  private async syncDir(): Promise<void> {
    try {
      await this.fs.syncDir(this.dir);
    } catch (err) {
      throw this.fail(new FsyncFailedError(this.dir, err));
    }
  }

  private fail(err: FlotillaError): FlotillaError {
    this.failure ??= err;
    return err;
  }
}

/** Cuts a torn tail off `path` and makes the new size durable before anything is appended. */
async function truncateFile(fs: FileLayer, path: string, length: number): Promise<void> {
  // 'r+': the file must exist and nothing else about it changes but its size.
  const file = await fs.open(path, 'r+');
  try {
    await file.truncate(length);
    try {
      await file.sync();
    } catch (err) {
      throw new FsyncFailedError(path, err);
    }
  } finally {
    await file.close();
  }
}
