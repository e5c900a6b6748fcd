import { assert } from '../raft/assert.js';
import type { LogStorage } from '../raft/storage.js';
import {
  type Entry,
  type HardState,
  type Index,
  index,
  NONE,
  type SnapshotMeta,
  type Term,
  term,
} from '../raft/types.js';

/**
 * Storage held in memory: what a host writes here counts as durable. The simulator uses one per
 * node as its "disk" (a crash keeps this and loses everything else); tests and benchmarks use it
 * as the fastest possible storage.
 */
export class MemoryStorage implements LogStorage {
  private entriesHeld: Entry[] = [];
  /** Index and term of the entry before entriesHeld[0] (0, 0 until compaction). */
  private offsetIndex: Index = index(0);
  private offsetTerm: Term = term(0);
  private hard: HardState = { term: term(0), vote: NONE, commit: index(0) };
  private snap: SnapshotMeta | undefined;

  snapshot(): SnapshotMeta | undefined {
    return this.snap;
  }

  /**
   * Records a snapshot this node made of its own state machine at `meta.index` (≤ applied). The
   * entries stay until `compact` drops them, so a tail can be kept for slow followers.
   */
  setSnapshot(meta: SnapshotMeta): void {
    assert(
      meta.index <= this.lastIndex(),
      `memory-storage: snapshot ${meta.index} beyond last ${this.lastIndex()}`,
    );
    if (this.snap === undefined || meta.index > this.snap.index) this.snap = meta;
  }

  /** Drops the entries up to `throughIndex`, which the latest snapshot must cover. */
  compact(throughIndex: Index): void {
    if (throughIndex <= this.offsetIndex) return;
    assert(
      this.snap !== undefined && throughIndex <= this.snap.index,
      `memory-storage: compact ${throughIndex} beyond the snapshot`,
    );
    const t = this.term(throughIndex);
    this.entriesHeld = this.entriesHeld.slice(throughIndex - this.offsetIndex);
    this.offsetIndex = throughIndex;
    this.offsetTerm = t;
  }

  /**
   * Installs a snapshot received from the leader: the log up to `meta.index` is replaced by it;
   * entries after it are kept only if the log agrees with the snapshot's last entry.
   */
  applySnapshot(meta: SnapshotMeta): void {
    if (this.snap !== undefined && meta.index <= this.snap.index) return;
    const keep =
      meta.index > this.offsetIndex && meta.index < this.lastIndex() && this.term(meta.index) === meta.term;
    this.entriesHeld = keep ? this.entriesHeld.slice(meta.index - this.offsetIndex) : [];
    this.offsetIndex = meta.index;
    this.offsetTerm = meta.term;
    this.snap = meta;
    if (this.hard.commit < meta.index) this.hard = { ...this.hard, commit: meta.index };
  }

  hardState(): HardState {
    return this.hard;
  }

  setHardState(hs: HardState): void {
    assert(hs.term >= this.hard.term, `memory-storage: term ${hs.term} went back from ${this.hard.term}`);
    this.hard = hs;
  }

  firstIndex(): Index {
    return index(this.offsetIndex + 1);
  }

  lastIndex(): Index {
    return index(this.offsetIndex + this.entriesHeld.length);
  }

  term(i: Index): Term {
    if (i === this.offsetIndex) return this.offsetTerm;
    const e = this.entriesHeld[i - this.offsetIndex - 1];
    assert(e !== undefined, `memory-storage: term(${i}) outside [${this.offsetIndex}, ${this.lastIndex()}]`);
    return e.term;
  }

  entries(lo: Index, hi: Index, bytesMax: number): Entry[] {
    assert(
      lo > this.offsetIndex && hi <= this.lastIndex() + 1,
      `memory-storage: entries [${lo}, ${hi}) out of range`,
    );
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.entriesHeld[i - this.offsetIndex - 1]!;
      if (out.length > 0 && bytes + e.data.length > bytesMax) break;
      out.push(e);
      bytes += e.data.length;
    }
    return out;
  }

  /** Writes entries, replacing any held from `entries[0].index` on (a follower's conflicting suffix). */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    assert(first > this.offsetIndex, `memory-storage: append at ${first} into the compacted prefix`);
    assert(
      first <= this.lastIndex() + 1,
      `memory-storage: append at ${first} leaves a gap after ${this.lastIndex()}`,
    );
    this.entriesHeld.length = first - this.offsetIndex - 1;
    for (const e of entries) this.entriesHeld.push(e);
  }

  /** Every entry held, for invariant checks and timelines. */
  allEntries(): readonly Entry[] {
    return this.entriesHeld;
  }
}
