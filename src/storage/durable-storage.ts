import { join } from 'node:path';
import { membershipOf, snapshotMetaOf } from '../raft/membership.js';
import type { Entry, HardState, Index, SnapshotMeta, Term } from '../raft/types.js';
import { DirLock } from './dir-lock.js';
import type { FileLayer } from './fs/file-layer.js';
import { MemoryStorage } from './memory-storage.js';
import type { NodeStorage, SnapshotSink } from './node-storage.js';
import { SnapshotStore } from './snapshot/snapshot-store.js';
import { Wal, type WalSyncMode } from './wal/wal.js';

export interface DurableStorageOptions {
  /** The node's data folder: the WAL goes to `wal/`, snapshots to `snap/`. */
  readonly dir: string;
  readonly segmentBytes?: number;
  readonly fs?: FileLayer;
  readonly onWarning?: (message: string) => void;
  /** How the WAL makes a save durable (see WalOptions.sync; default WAL_SYNC_DEFAULT, O_DSYNC). */
  readonly walSync?: WalSyncMode;
  /**
   * After each durable WAL write: how long making it durable took (ms: the fdatasync, or the
   * whole O_DSYNC write) and its bytes, for metrics (see WalOptions).
   */
  readonly onWalSync?: (syncMs: number, bytes: number) => void;
}

/**
 * A node's storage on disk: a WAL for entries and hard state, snapshot files for the state
 * machine. The log the core reads is mirrored in memory from the WAL (it is what the WAL holds,
 * never more), so reads never touch the disk. Every WAL operation runs in order, one at a time.
 */
export class DurableStorage implements NodeStorage {
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly wal: Wal,
    private readonly snaps: SnapshotStore,
    private readonly mem: MemoryStorage,
    private readonly lock: DirLock | undefined,
  ) {}

  /** Opens (or creates) the data folder and recovers it; refuses to start on corruption. */
  static async open(options: DurableStorageOptions): Promise<DurableStorage> {
    // On the real file system, one process per data folder (a simulated disk has no other user).
    const lock = options.fs === undefined ? DirLock.acquire(options.dir) : undefined;
    try {
      return await DurableStorage.recover(options, lock);
    } catch (err) {
      lock?.release();
      throw err;
    }
  }

  private static async recover(
    options: DurableStorageOptions,
    lock: DirLock | undefined,
  ): Promise<DurableStorage> {
    const snaps = await SnapshotStore.open({
      dir: join(options.dir, 'snap'),
      ...(options.fs === undefined ? {} : { fs: options.fs }),
      ...(options.onWarning === undefined ? {} : { onWarning: options.onWarning }),
    });
    const { wal, recovered } = await Wal.open({
      dir: join(options.dir, 'wal'),
      ...(options.segmentBytes === undefined ? {} : { segmentBytes: options.segmentBytes }),
      ...(options.fs === undefined ? {} : { fs: options.fs }),
      ...(options.onWalSync === undefined ? {} : { onSync: options.onWalSync }),
      ...(options.walSync === undefined ? {} : { sync: options.walSync }),
    });
    const mem = new MemoryStorage();
    const marker = recovered.snapshot;
    if (marker !== undefined) {
      // The marker names the snapshot the log continues from; a newer file (a crash between
      // writing it and recording it) is ignored until a marker names it.
      const meta = (await snaps.list()).find((m) => m.index === marker.index && m.term === marker.term);
      if (meta === undefined) {
        throw new Error(
          `the WAL in ${options.dir} starts after snapshot ${marker.index} (term ${marker.term}), but that ` +
            'snapshot file is missing or unreadable: restore this node from a healthy peer',
        );
      }
      // The whole configuration (learners, outgoing voters, addresses), not only the voters.
      mem.applySnapshot(snapshotMetaOf(meta.index, meta.term, membershipOf(meta)));
    }
    mem.append(recovered.entries);
    if (recovered.hardState.term > 0 || recovered.hardState.commit > 0) mem.setHardState(recovered.hardState);
    return new DurableStorage(wal, snaps, mem, lock);
  }

  // ---- LogStorage (the core's read side) -----------------------------------------------------

  hardState(): HardState {
    return this.mem.hardState();
  }
  snapshot(): SnapshotMeta | undefined {
    return this.mem.snapshot();
  }
  firstIndex(): Index {
    return this.mem.firstIndex();
  }
  lastIndex(): Index {
    return this.mem.lastIndex();
  }
  term(i: Index): Term {
    return this.mem.term(i);
  }
  entries(lo: Index, hi: Index, bytesMax: number): Entry[] {
    return this.mem.entries(lo, hi, bytesMax);
  }

  // ---- writes --------------------------------------------------------------------------------

  save(entries: readonly Entry[], hardState: HardState | undefined): Promise<void> {
    return this.inOrder(async () => {
      await this.wal.save(hardState === undefined ? { entries } : { entries, hardState });
      this.mem.append(entries.map(ownBytes));
      if (hardState !== undefined) this.mem.setHardState(hardState);
    });
  }

  createSnapshot(meta: SnapshotMeta): SnapshotSink {
    const writer = this.snaps.create(meta);
    return {
      write: (chunk) => writer.write(chunk),
      commit: async () => {
        await writer.commit();
      },
      abort: () => writer.abort(),
    };
  }

  openSnapshot(meta: SnapshotMeta, offset: number): AsyncIterable<Uint8Array> {
    return this.snaps.open(meta, { offset });
  }

  installSnapshot(meta: SnapshotMeta): Promise<void> {
    return this.inOrder(async () => {
      await this.wal.saveSnapshotMarker(meta.index, meta.term);
      this.mem.applySnapshot(meta);
      await this.snaps.retain(meta);
    });
  }

  /**
   * Records the node's own snapshot `meta` and drops the log through `compactTo`. When a newer
   * snapshot from the leader was installed while this one was being written (own snapshots
   * stream in the background), this one is of no use: nothing is recorded (the WAL's marker
   * never goes back) and its file goes with the next clean-up.
   */
  compactLog(meta: SnapshotMeta, compactTo: Index): Promise<void> {
    return this.inOrder(async () => {
      const current = this.mem.snapshot();
      if (current !== undefined && current.index >= meta.index) {
        await this.snaps.retain(current);
        return;
      }
      await this.wal.saveSnapshotMarker(meta.index, meta.term);
      this.mem.setSnapshot(meta);
      this.mem.compact(compactTo);
      await this.wal.releaseTo(compactTo);
      await this.snaps.retain(meta);
    });
  }

  close(): Promise<void> {
    return this.inOrder(async () => {
      await this.wal.close();
      this.lock?.release();
    });
  }

  private inOrder<T>(op: () => Promise<T>): Promise<T> {
    const next = this.chain.then(op, op);
    this.chain = next.catch(() => {});
    return next;
  }
}

/**
 * Entries decoded from the network are views into whole socket reads; the mirror keeps entries
 * until compaction, so it holds its own copy of a view rather than pin the larger buffer.
 */
function ownBytes(e: Entry): Entry {
  return e.data.byteLength === e.data.buffer.byteLength ? e : { ...e, data: e.data.slice() };
}
