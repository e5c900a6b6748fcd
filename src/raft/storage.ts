import type { Entry, HardState, Index, SnapshotMeta, Term } from './types.js';

/**
 * What the core reads from stable storage. The host writes to it (Ready → persist) and the core
 * only reads; `src/storage/` provides a memory and a durable implementation.
 */
export interface LogStorage {
  /** The hard state saved before the last restart. */
  hardState(): HardState;
  /** The latest snapshot, if the log was ever compacted or a snapshot installed. */
  snapshot(): SnapshotMeta | undefined;
  /** The index of the first entry still held: snapshot index + 1 (1 on a log never compacted). */
  firstIndex(): Index;
  /** The index of the last persisted entry (firstIndex − 1 when empty). */
  lastIndex(): Index;
  /** The term of the entry at `i`, for firstIndex − 1 ≤ i ≤ lastIndex (index 0 has term 0). */
  term(i: Index): Term;
  /**
   * Entries [lo, hi) with firstIndex ≤ lo < hi ≤ lastIndex + 1, stopping once their payloads
   * pass `bytesMax` (at least one entry is always returned).
   */
  entries(lo: Index, hi: Index, bytesMax: number): Entry[];
}
