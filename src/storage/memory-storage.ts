import { assert } from '../raft/assert.js';
import type { LogStorage } from '../raft/storage.js';
import { type Entry, type HardState, type Index, index, NONE, type Term, term } from '../raft/types.js';

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
