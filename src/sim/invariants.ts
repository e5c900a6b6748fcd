import type { Entry, NodeId } from '../raft/types.js';
import { Role } from '../raft/types.js';
import type { SimNode } from './sim-node.js';

/** A broken safety property, found by the simulator's checker. `invariant` numbers docs/invariants.md. */
export class SafetyViolation extends Error {
  readonly code = 'ERR_SAFETY_VIOLATION';
  constructor(
    readonly invariant: string,
    detail: string,
  ) {
    super(`${invariant}: ${detail}`);
    this.name = 'SafetyViolation';
  }
}

export const INVARIANTS = {
  electionSafety: 'I1 Election Safety',
  leaderAppendOnly: 'I2 Leader Append-Only',
  logMatching: 'I3 Log Matching',
  leaderCompleteness: 'I4 Leader Completeness',
  stateMachineSafety: 'I5 State Machine Safety',
  committedStays: 'I6 Committed entries stay committed',
} as const;

function sameEntry(a: Entry, b: Entry): boolean {
  if (a === b) return true;
  if (a.term !== b.term || a.index !== b.index || a.kind !== b.kind || a.data.length !== b.data.length)
    return false;
  for (let k = 0; k < a.data.length; k++) if (a.data[k] !== b.data[k]) return false;
  return true;
}

/**
 * Checks Figure 3's properties incrementally: after each event it looks only at the node the
 * event touched and only at the part of its log that changed since the last look.
 */
export class SafetyChecker {
  /** term → the node that led it. */
  private readonly leaders = new Map<number, NodeId>();
  /** The longest prefix some node has reported committed; committed[i - 1] is index i. */
  readonly committed: Entry[] = [];
  /** An upper bound on the term in which committed[i - 1] became committed. */
  private readonly commitTerms: number[] = [];
  /** (index, term) → the entry first seen there, for Log Matching. */
  private readonly canon = new Map<number, Map<number, { entry: Entry; prevTerm: number }>>();

  check(n: SimNode): void {
    const raw = n.raw;
    const restarted = n.epoch !== n.shadowEpoch;
    const last = n.lastIndex();
    // Entries below `base` live in a snapshot; a snapshot holds only committed entries (its
    // contents are checked entry by entry as the state machine's applied list).
    const base = Math.max(1, n.firstIndex());
    if (base - 1 > this.committed.length) {
      throw new SafetyViolation(
        INVARIANTS.stateMachineSafety,
        `node ${n.id} holds a snapshot through ${base - 1}, beyond the committed ${this.committed.length}`,
      );
    }
    let firstChange = base;
    const shadowLen = n.shadow.length;
    while (
      firstChange <= shadowLen &&
      firstChange <= last &&
      n.shadow[firstChange - 1] === n.entryAt(firstChange)
    ) {
      firstChange++;
    }
    const role = raw?.raft.role ?? Role.Follower;
    const t = raw?.raft.term ?? 0;
    if (role === Role.Leader) this.checkElectionSafety(n.id, t);
    if (!restarted && n.shadowRole === Role.Leader && role === Role.Leader && n.shadowTerm === t) {
      if (firstChange <= shadowLen) {
        throw new SafetyViolation(
          INVARIANTS.leaderAppendOnly,
          `leader ${n.id} in term ${t} changed or removed its entry ${firstChange} (log had ${shadowLen})`,
        );
      }
    }
    // A crash may lose entries that were never persisted, even ones known to be committed (they
    // are durable on a majority); without a crash, a committed entry never leaves a log.
    if (!restarted && firstChange <= n.verified) {
      throw new SafetyViolation(
        INVARIANTS.committedStays,
        `node ${n.id} lost committed entry ${firstChange} (term ${this.committed[firstChange - 1]?.term})`,
      );
    }
    n.verified = Math.max(Math.min(n.verified, firstChange - 1), base - 1);
    for (let i = firstChange; i <= last; i++) this.checkLogMatching(n, i);
    n.shadow.length = firstChange - 1;
    for (let i = firstChange; i <= last; i++) n.shadow.push(n.entryAt(i)!);
    this.extendVerified(n);
    this.checkCommit(n, t);
    if (role === Role.Leader) this.checkLeaderCompleteness(n, t);
    this.checkApplied(n);
    n.shadowRole = role;
    n.shadowTerm = t;
    n.shadowEpoch = n.epoch;
  }

  private checkElectionSafety(id: NodeId, t: number): void {
    const known = this.leaders.get(t);
    if (known === undefined) this.leaders.set(t, id);
    else if (known !== id) {
      throw new SafetyViolation(INVARIANTS.electionSafety, `two leaders in term ${t}: ${known} and ${id}`);
    }
  }

  /** Entry (i, t) must always sit on the same entry at i − 1: by induction, equal prefixes. */
  private checkLogMatching(n: SimNode, i: number): void {
    const e = n.entryAt(i)!;
    const prevTerm = n.termAt(i - 1);
    let byTerm = this.canon.get(i);
    if (byTerm === undefined) {
      byTerm = new Map();
      this.canon.set(i, byTerm);
    }
    const seen = byTerm.get(e.term);
    if (seen === undefined) {
      byTerm.set(e.term, { entry: e, prevTerm });
      return;
    }
    if (!sameEntry(seen.entry, e) || seen.prevTerm !== prevTerm) {
      throw new SafetyViolation(
        INVARIANTS.logMatching,
        `node ${n.id} holds a different entry (or predecessor term ${prevTerm} vs ${seen.prevTerm}) at index ${i} term ${e.term}`,
      );
    }
  }

  private extendVerified(n: SimNode): void {
    const limit = Math.min(n.lastIndex(), this.committed.length);
    while (n.verified < limit && sameEntry(n.entryAt(n.verified + 1)!, this.committed[n.verified]!))
      n.verified++;
  }

  /** What a node calls committed must agree with what every other node called committed. */
  private checkCommit(n: SimNode, t: number): void {
    const commit = n.commit();
    const overlap = Math.min(commit, this.committed.length);
    if (n.verified < overlap) {
      throw new SafetyViolation(
        INVARIANTS.stateMachineSafety,
        `node ${n.id} commits index ${n.verified + 1} with term ${n.entryAt(n.verified + 1)?.term}, ` +
          `but term ${this.committed[n.verified]?.term} was committed there`,
      );
    }
    for (let i = this.committed.length + 1; i <= commit; i++) {
      this.committed.push(n.entryAt(i)!);
      this.commitTerms.push(t);
    }
    if (commit > n.verified) n.verified = commit;
  }

  /** Figure 3: an entry committed in a term is in the log of every leader of a later term. */
  private checkLeaderCompleteness(n: SimNode, t: number): void {
    let required = this.committed.length;
    while (required > 0 && this.commitTerms[required - 1]! >= t) required--;
    if (n.verified < required) {
      throw new SafetyViolation(
        INVARIANTS.leaderCompleteness,
        `leader ${n.id} of term ${t} lacks committed entry ${n.verified + 1} (committed by term ${this.commitTerms[n.verified]})`,
      );
    }
  }

  private checkApplied(n: SimNode): void {
    for (let i = n.appliedChecked; i < n.applied.length; i++) {
      const e = n.applied[i]!;
      const c = this.committed[i];
      if (e.index !== i + 1 || c === undefined || !sameEntry(c, e)) {
        throw new SafetyViolation(
          INVARIANTS.stateMachineSafety,
          `node ${n.id} applied entry ${e.index} (term ${e.term}) as its ${i + 1}th, but committed there is ${c === undefined ? 'nothing' : `term ${c.term}`}`,
        );
      }
    }
    n.appliedChecked = n.applied.length;
  }
}
