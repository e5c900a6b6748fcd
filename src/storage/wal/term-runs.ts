import { assert } from '../../raft/assert.js';
import { type Index, index, type Term } from '../../raft/types.js';

/**
 * The terms of the entries the WAL holds, kept as runs (first index of each term), so that the
 * WAL can answer "which term is the entry at i?" without keeping the entries in memory. A log
 * has few terms, so this stays small however long the log grows.
 */
export class TermRuns {
  /** starts[k] is the first index of the run of term terms[k]; starts is increasing. */
  private readonly starts: number[] = [];
  private readonly terms: Term[] = [];
  private first: number;
  private last: number;

  /** An empty log that follows `base` (a snapshot's index, or 0). */
  constructor(base: Index) {
    this.first = base + 1;
    this.last = base;
  }

  /** The index of the last entry, or the base when no entry is held. */
  get lastIndex(): Index {
    return index(this.last);
  }

  /** The term of the entry at `i`, or undefined when `i` is not held. */
  termAt(i: Index): Term | undefined {
    if (i < this.first || i > this.last) return undefined;
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= i) lo = mid;
      else hi = mid - 1;
    }
    return this.terms[lo];
  }

  /** Appends the entry at `i`, which must follow the last one. */
  append(i: Index, t: Term): void {
    assert(i === this.last + 1, `term-runs: append at ${i} after ${this.last}`);
    if (this.terms.length === 0 || this.terms[this.terms.length - 1] !== t) {
      this.starts.push(i);
      this.terms.push(t);
    }
    this.last = i;
  }

  /** Drops the entries at `from` and above. */
  truncateFrom(from: Index): void {
    assert(from >= this.first, `term-runs: truncate from ${from} below the first index ${this.first}`);
    while (this.starts.length > 0 && this.starts[this.starts.length - 1]! >= from) {
      this.starts.pop();
      this.terms.pop();
    }
    this.last = Math.min(this.last, from - 1);
  }

  /** Drops the entries at `through` and below (a snapshot covers them). */
  compactTo(through: Index): void {
    if (through >= this.last) {
      this.starts.length = 0;
      this.terms.length = 0;
      this.first = through + 1;
      this.last = through;
      return;
    }
    let drop = 0;
    while (drop + 1 < this.starts.length && this.starts[drop + 1]! <= through + 1) drop++;
    this.starts.splice(0, drop);
    this.terms.splice(0, drop);
    if (this.starts.length > 0) this.starts[0] = through + 1;
    this.first = through + 1;
  }
}
