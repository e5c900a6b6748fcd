import { assert } from './assert.js';
import { ConfigHistory, type Membership, membershipOf } from './membership.js';
import type { LogStorage } from './storage.js';
import { type Entry, type Index, index, type SnapshotMeta, type Term, term } from './types.js';

/**
 * The log as the core sees it: a stable prefix in storage, an unstable suffix in memory that the
 * host has not yet persisted, and the commit and applied indexes.
 *
 * Invariant: applied ≤ commit ≤ lastIndex, and the unstable suffix starts at `unstableOffset`
 * with no gap after the stable part it replaces or extends.
 */
export class RaftLog {
  /** Entries not yet persisted; unstable[0] has index `unstableOffset`. */
  private unstable: Entry[] = [];
  private unstableOffset: Index;
  /** A snapshot received from the leader that the host has not yet installed. */
  private unstableSnapshot: SnapshotMeta | undefined;
  commit: Index;
  applied: Index;
  /** The configurations in this log; the latest is in force (§4.1). */
  readonly configs: ConfigHistory;

  constructor(
    readonly storage: LogStorage,
    applied: Index,
    initial: Membership,
  ) {
    this.unstableOffset = index(storage.lastIndex() + 1);
    this.commit = storage.hardState().commit;
    // A snapshot is committed and applied by definition; the state machine restored it at start.
    const snapIndex = storage.snapshot()?.index ?? 0;
    if (this.commit < snapIndex) this.commit = index(snapIndex);
    if (applied < snapIndex) applied = index(snapIndex);
    this.applied = applied;
    const snap = storage.snapshot();
    this.configs = new ConfigHistory(snap === undefined ? initial : membershipOf(snap), index(snapIndex));
    // Entries kept behind the snapshot are already reflected in its membership.
    const first = Math.max(storage.firstIndex(), snapIndex + 1);
    const last = storage.lastIndex();
    if (last >= first)
      this.configs.add(storage.entries(index(first), index(last + 1), Number.POSITIVE_INFINITY));
    assert(applied <= this.commit, `log: applied ${applied} <= commit ${this.commit}`);
  }

  firstIndex(): Index {
    const snap = this.unstableSnapshot;
    return snap === undefined ? this.storage.firstIndex() : index(snap.index + 1);
  }

  lastIndex(): Index {
    return this.unstable.length > 0
      ? index(this.unstableOffset + this.unstable.length - 1)
      : index(this.unstableOffset - 1);
  }

  lastTerm(): Term {
    return this.term(this.lastIndex());
  }

  /** The term at `i`, or 0 when `i` is out of range (compacted or beyond the end). */
  term(i: Index): Term {
    if (i >= this.unstableOffset) {
      const e = this.unstable[i - this.unstableOffset];
      return e === undefined ? term(0) : e.term;
    }
    const snap = this.unstableSnapshot;
    if (snap !== undefined) return i === snap.index ? snap.term : term(0);
    if (i < this.storage.firstIndex() - 1) return term(0);
    return this.storage.term(i);
  }

  matchTerm(i: Index, t: Term): boolean {
    if (i > this.lastIndex()) return false;
    return this.term(i) === t;
  }

  /** §5.4.1: is a log ending at (lastTerm, lastIndex) at least as up to date as ours? */
  isUpToDate(lastIndex: Index, lastTerm: Term): boolean {
    const ours = this.lastTerm();
    return lastTerm > ours || (lastTerm === ours && lastIndex >= this.lastIndex());
  }

  /** Appends entries that follow lastIndex (the leader's own proposals). */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!;
    assert(first.index === this.lastIndex() + 1, `log: append at ${first.index} after ${this.lastIndex()}`);
    for (const e of entries) this.unstable.push(e);
    this.configs.add(entries);
  }

  /**
   * AppendEntries on a follower (§5.3): entries follow `prevIndex`, which is known to match. The
   * first entry whose term differs from ours truncates our suffix from there; a committed entry is
   * never truncated. Returns the index of the last new entry.
   */
  appendAfter(prevIndex: Index, entries: readonly Entry[]): Index {
    const lastNew = index(prevIndex + entries.length);
    let k = 0;
    const last = this.lastIndex();
    while (k < entries.length) {
      const e = entries[k]!;
      if (e.index > last || this.term(e.index) !== e.term) break;
      k++;
    }
    if (k === entries.length) return lastNew;
    const conflict = entries[k]!.index;
    assert(conflict > this.commit, `log: truncating committed entry ${conflict} (commit ${this.commit})`);
    this.truncateAndAppend(conflict, entries, k);
    return lastNew;
  }

  private truncateAndAppend(at: Index, entries: readonly Entry[], from: number): void {
    if (at === this.unstableOffset + this.unstable.length) {
      // Plain extension of the unstable suffix.
    } else if (at <= this.unstableOffset) {
      // Replaces part of the stable log: the new suffix starts at `at` and the host will
      // overwrite storage from there when it persists it.
      this.unstableOffset = at;
      this.unstable = [];
    } else {
      this.unstable.length = at - this.unstableOffset;
    }
    for (let k = from; k < entries.length; k++) this.unstable.push(entries[k]!);
    this.configs.truncate(at);
    this.configs.add(entries, from);
  }

  /** The entry at `i`, or undefined when compacted or beyond the end. */
  entryAt(i: Index): Entry | undefined {
    if (i >= this.unstableOffset) return this.unstable[i - this.unstableOffset];
    if (i < this.firstIndex()) return undefined;
    return this.storage.entries(i, index(i + 1), Number.POSITIVE_INFINITY)[0];
  }

  /** Entries [lo, hi) from storage and the unstable suffix, limited to about `bytesMax` of payload. */
  slice(lo: Index, hi: Index, bytesMax: number): Entry[] {
    assert(lo >= this.firstIndex(), `log: slice from ${lo} below first index ${this.firstIndex()}`);
    assert(hi <= this.lastIndex() + 1, `log: slice to ${hi} beyond last index ${this.lastIndex()}`);
    if (lo >= hi) return [];
    let out: Entry[] = [];
    let bytes = 0;
    if (lo < this.unstableOffset) {
      const stableHi = index(Math.min(hi, this.unstableOffset));
      out = this.storage.entries(lo, stableHi, bytesMax);
      for (const e of out) bytes += e.data.length;
      if (out.length < stableHi - lo || bytes >= bytesMax) return out;
    }
    const start = Math.max(lo, this.unstableOffset) - this.unstableOffset;
    const end = hi - this.unstableOffset;
    for (let k = start; k < end; k++) {
      const e = this.unstable[k]!;
      if (out.length > 0 && bytes + e.data.length > bytesMax) break;
      out.push(e);
      bytes += e.data.length;
    }
    return out;
  }

  /**
   * Replaces the whole log with a snapshot from the leader (§7): everything up to its index is
   * committed and, once the host installs it, applied.
   */
  restore(snap: SnapshotMeta): void {
    assert(
      snap.index > this.commit,
      `log: restoring snapshot ${snap.index} at or below commit ${this.commit}`,
    );
    this.unstableSnapshot = snap;
    this.configs.reset(membershipOf(snap), snap.index);
    this.unstable = [];
    this.unstableOffset = index(snap.index + 1);
    this.commit = snap.index;
    this.applied = snap.index;
  }

  /** The snapshot the host must install before persisting `unstableEntries()`. */
  pendingSnapshot(): SnapshotMeta | undefined {
    return this.unstableSnapshot;
  }

  /** The host installed the snapshot at `i` (its storage now starts there). */
  snapshotInstalled(i: Index): void {
    if (this.unstableSnapshot?.index === i) this.unstableSnapshot = undefined;
  }

  /** Entries the host must persist, in order; they replace any stored entries from their first index. */
  unstableEntries(): readonly Entry[] {
    return this.unstable;
  }

  /** The host persisted entries through (i, t): drop them from the unstable suffix. */
  stableTo(i: Index, t: Term): void {
    if (i < this.unstableOffset) return;
    const e = this.unstable[i - this.unstableOffset];
    // The suffix may have been replaced after the Ready that held (i, t) was taken.
    if (e === undefined || e.term !== t) return;
    this.unstable = this.unstable.slice(i - this.unstableOffset + 1);
    this.unstableOffset = index(i + 1);
  }

  /** The last index known to be on stable storage. */
  persistedIndex(): Index {
    return index(this.unstableOffset - 1);
  }

  commitTo(i: Index): void {
    if (i <= this.commit) return;
    assert(i <= this.lastIndex(), `log: commit ${i} beyond last index ${this.lastIndex()}`);
    this.commit = i;
  }

  /** Committed entries not yet handed to the state machine, limited to what is persisted or in flight. */
  nextCommitted(bytesMax: number): Entry[] {
    if (this.applied >= this.commit) return [];
    return this.slice(index(this.applied + 1), index(this.commit + 1), bytesMax);
  }

  appliedTo(i: Index): void {
    assert(i <= this.commit, `log: applied ${i} beyond commit ${this.commit}`);
    if (i > this.applied) this.applied = i;
  }

  /** The first index that `entries` would overwrite in this log, or 0 (for traces). */
  firstConflict(entries: readonly Entry[]): number {
    const last = this.lastIndex();
    for (const e of entries) {
      if (e.index > last) return 0;
      if (this.term(e.index) !== e.term) return e.index;
    }
    return 0;
  }

  /** The terms of the entries from `from` to the end (for traces). */
  termsFrom(from: number): number[] {
    const out: number[] = [];
    for (let i = from; i <= this.lastIndex(); i++) out.push(this.term(index(i)));
    return out;
  }

  /**
   * Where the leader probes next after a follower rejected `rejected` with a conflict hint (§5.3):
   * if this log holds entries of the follower's conflicting term, right after its last one;
   * otherwise before the follower's first entry of that term.
   */
  nextProbeFromHint(rejected: Index, hintIndex: Index, hintTerm: Term): Index {
    if (hintTerm === 0) return hintIndex;
    const k = this.lastIndexWithTermAtMost(index(rejected - 1), hintTerm);
    if (this.term(k) === hintTerm) return index(k + 1);
    return index(Math.min(hintIndex, k + 1));
  }

  /**
   * The first index of the term at `i` in our log, scanning back no further than the first index
   * held — the follower's half of the conflict hint (§5.3).
   */
  firstIndexOfTermAt(i: Index): Index {
    const t = this.term(i);
    let k = i;
    const floor = this.firstIndex();
    while (k > floor && this.term(index(k - 1)) === t) k--;
    return k;
  }

  /**
   * The last index at or below `i` whose term is ≤ `t` — the leader's half of the conflict hint:
   * the follower and leader may agree up to there.
   */
  lastIndexWithTermAtMost(i: Index, t: Term): Index {
    let k = Math.min(i, this.lastIndex());
    const floor = this.firstIndex() - 1;
    while (k > floor && this.term(index(k)) > t) k--;
    return index(Math.max(k, floor));
  }
}
