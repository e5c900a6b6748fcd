import { assert } from '../raft/assert.js';
import type { LogStorage } from '../raft/storage.js';
import type { Entry, HardState, Index, SnapshotMeta } from '../raft/types.js';
import { MemoryStorage } from './memory-storage.js';

/** Where a snapshot's bytes go: nothing is visible until `commit()` made them durable. */
export interface SnapshotSink {
  write(chunk: Uint8Array): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/**
 * What a RaftNode needs from its storage: the core's read side (LogStorage) plus durable writes.
 * `DurableStorage` keeps it in a WAL and snapshot files; `MemoryNodeStorage` in memory.
 */
export interface NodeStorage extends LogStorage {
  /** Makes one Ready's entries (replacing any from entries[0].index on) and hard state durable. */
  save(entries: readonly Entry[], hardState: HardState | undefined): Promise<void>;
  /** A sink for the bytes of snapshot `meta` (our own, or one arriving from the leader). */
  createSnapshot(meta: SnapshotMeta): SnapshotSink;
  /** The bytes of a committed snapshot from `offset` on, in chunks. */
  openSnapshot(meta: SnapshotMeta, offset: number): AsyncIterable<Uint8Array>;
  /** A received snapshot is installed: the log now starts right after it. */
  installSnapshot(meta: SnapshotMeta): Promise<void>;
  /** Our own snapshot `meta` is durable: entries through `compactTo` (≤ meta.index) may go. */
  compactLog(meta: SnapshotMeta, compactTo: Index): Promise<void>;
  close(): Promise<void>;
}

/** NodeStorage in memory: for tests, examples and benchmarks of everything but the disk. */
export class MemoryNodeStorage extends MemoryStorage implements NodeStorage {
  private readonly snapshotBytes = new Map<number, Uint8Array[]>();

  async save(entries: readonly Entry[], hardState: HardState | undefined): Promise<void> {
    this.append(entries);
    if (hardState !== undefined) this.setHardState(hardState);
  }

  createSnapshot(meta: SnapshotMeta): SnapshotSink {
    const chunks: Uint8Array[] = [];
    return {
      write: async (chunk) => {
        chunks.push(chunk.slice());
      },
      commit: async () => {
        this.snapshotBytes.set(meta.index, chunks);
      },
      abort: async () => {},
    };
  }

  async *openSnapshot(meta: SnapshotMeta, offset: number): AsyncIterable<Uint8Array> {
    const chunks = this.snapshotBytes.get(meta.index);
    assert(chunks !== undefined, `memory-node-storage: no snapshot at ${meta.index}`);
    let skip = offset;
    for (const c of chunks) {
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      yield skip > 0 ? c.subarray(skip) : c;
      skip = 0;
    }
  }

  async installSnapshot(meta: SnapshotMeta): Promise<void> {
    this.applySnapshot(meta);
    this.dropOlderSnapshots(meta.index);
  }

  async compactLog(meta: SnapshotMeta, compactTo: Index): Promise<void> {
    this.setSnapshot(meta);
    this.compact(compactTo);
    this.dropOlderSnapshots(meta.index);
  }

  private dropOlderSnapshots(keep: number): void {
    for (const k of this.snapshotBytes.keys()) if (k < keep) this.snapshotBytes.delete(k);
  }

  async close(): Promise<void> {}
}
