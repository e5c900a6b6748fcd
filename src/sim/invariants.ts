import { decodeMembership, type Membership, membershipOf } from '../raft/membership.js';
import type { Message } from '../raft/messages.js';
import type { Entry, NodeId } from '../raft/types.js';
import { EntryKind, index, Role } from '../raft/types.js';
import type { MemoryStorage } from '../storage/memory-storage.js';
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
  electionQuorum: 'I7 Election quorum',
  commitQuorum: 'I8 Commit quorum',
} as const;

/**
 * A quorum of `m` among the nodes `has` picks out: a majority of the voters and, while joint, a
 * majority of the outgoing voters too (thesis §4.3). Written apart from the core's own quorum
 * code so that the checker does not share its mistakes. An empty voter set has no quorum.
 */
function quorumOf(m: Membership, has: (id: NodeId) => boolean): boolean {
  const majority = (ids: readonly NodeId[]): boolean => ids.filter(has).length * 2 > ids.length;
  return majority(m.voters) && (m.outgoing.length === 0 || majority(m.outgoing));
}

function describeMembership(m: Membership): string {
  const joint = m.outgoing.length > 0 ? ` outgoing [${m.outgoing.join(',')}]` : '';
  const learners = m.learners.length > 0 ? ` learners [${m.learners.join(',')}]` : '';
  return `voters [${m.voters.join(',')}]${joint}${learners}`;
}

function sameMembers(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  if (a.length !== b.length) return false;
  const sorted = [...b].sort();
  return [...a].sort().every((id, k) => id === sorted[k]);
}

/** Whether `storage` holds entry (i, t) durably: in its log, or inside its snapshot (committed there). */
function durablyHolds(storage: MemoryStorage, i: number, t: number): boolean {
  const snap = storage.snapshot();
  if (snap !== undefined && snap.index >= i) return true;
  if (i < storage.firstIndex() || i > storage.lastIndex()) return false;
  return storage.term(index(i)) === t;
}

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
  /** term → voter → the candidate it granted its vote in that term (Figure 2: votedFor). */
  private readonly grants = new Map<number, Map<NodeId, NodeId>>();
  /** The longest prefix some node has reported committed; committed[i - 1] is index i. */
  readonly committed: Entry[] = [];
  /** An upper bound on the term in which committed[i - 1] became committed. */
  private readonly commitTerms: number[] = [];
  /** (index, term) → the entry first seen there, for Log Matching. */
  private readonly canon = new Map<number, Map<number, { entry: Entry; prevTerm: number }>>();

  /**
   * @param nodeOf every node of the cluster by id, up or down: the quorum checks (I7, I8) look at
   * other nodes' disks and the votes they sent.
   */
  constructor(private readonly nodeOf: (id: NodeId) => SimNode | undefined) {}

  /** The first leader seen in a term above `term`, and that term. */
  nextLeaderAfter(term: number): { term: number; id: NodeId } | undefined {
    let best: { term: number; id: NodeId } | undefined;
    for (const [t, id] of this.leaders)
      if (t > term && (best === undefined || t < best.term)) best = { term: t, id };
    return best;
  }

  /**
   * A message left a node. A granted vote binds its sender for that term (§5.2: at most one vote
   * per term, kept across restarts); I7 counts the grants a leader could have received.
   */
  noteSent(m: Message): void {
    if (m.type !== 'vote-resp' || m.reject) return;
    let byVoter = this.grants.get(m.term);
    if (byVoter === undefined) {
      byVoter = new Map();
      this.grants.set(m.term, byVoter);
    }
    const earlier = byVoter.get(m.from);
    if (earlier === undefined) byVoter.set(m.from, m.to);
    else if (earlier !== m.to) {
      throw new SafetyViolation(
        INVARIANTS.electionQuorum,
        `node ${m.from} granted its vote in term ${m.term} to both ${earlier} and ${m.to}`,
      );
    }
  }

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
    if (role === Role.Leader && this.checkElectionSafety(n.id, t)) this.checkElectionQuorum(n, t);
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
    // A leader that led through this event (it may have stepped down at its end, removed by the
    // C(new) it just committed) and moved its commit index counted a quorum to do so.
    const led = !restarted && n.shadowRole === Role.Leader && n.shadowTerm === t && raw !== undefined;
    if (led && n.commit() > n.shadowCommit) this.checkCommitQuorum(n, t);
    this.checkApplied(n);
    n.shadowRole = role;
    n.shadowTerm = t;
    n.shadowEpoch = n.epoch;
    n.shadowCommit = n.commit();
  }

  /** Returns whether this is the first time the checker sees a leader of term `t`. */
  private checkElectionSafety(id: NodeId, t: number): boolean {
    const known = this.leaders.get(t);
    if (known === undefined) {
      this.leaders.set(t, id);
      return true;
    }
    if (known !== id) {
      throw new SafetyViolation(INVARIANTS.electionSafety, `two leaders in term ${t}: ${known} and ${id}`);
    }
    return false;
  }

  /**
   * The configuration in force at `n`, read from its log without the core's help (§4.1: the latest
   * Config entry, committed or not; else its snapshot's; else the voters it started with), and
   * compared with the one the core uses.
   */
  private configOf(n: SimNode, invariant: string): Membership {
    const raw = n.raw!;
    let found: Membership | undefined;
    for (let i = n.lastIndex(); i >= n.firstIndex() && i > 0 && found === undefined; i--) {
      const e = n.entryAt(i);
      if (e?.kind === EntryKind.Config) found = decodeMembership(e.data);
    }
    if (found === undefined) {
      const snap = raw.raft.log.pendingSnapshot() ?? n.storage.snapshot();
      found =
        snap === undefined
          ? { voters: [...raw.raft.config.voters], outgoing: [], learners: [] }
          : membershipOf(snap);
    }
    const core = raw.membership();
    if (
      !sameMembers(core.voters, found.voters) ||
      !sameMembers(core.outgoing, found.outgoing) ||
      !sameMembers(core.learners, found.learners)
    ) {
      throw new SafetyViolation(
        invariant,
        `node ${n.id} decides with ${describeMembership(core)} but its log says ${describeMembership(found)} (§4.1)`,
      );
    }
    return found;
  }

  /**
   * §5.2, §4.3: a leader was granted votes in its term by a quorum of its configuration (a majority
   * of each half when joint), its own vote counted only as a voter of it; votes of learners and
   * non-members never count. It is a voter of that configuration — or, while the change that took
   * its vote away is not known to it as committed, of the one before (thesis §4.2.2: such a server
   * may still be needed to commit that change, so it may still campaign).
   */
  private checkElectionQuorum(n: SimNode, t: number): void {
    const m = this.configOf(n, INVARIANTS.electionQuorum);
    const isVoter = (c: Membership) => c.voters.includes(n.id) || c.outgoing.includes(n.id);
    if (!isVoter(m)) {
      const log = n.raw!.raft.log;
      const at = log.configs.latestIndex();
      if (at <= log.commit || !isVoter(log.configs.at(index(at - 1)))) {
        throw new SafetyViolation(
          INVARIANTS.electionQuorum,
          `node ${n.id} leads term ${t} but is not a voter of its configuration, ${describeMembership(m)}` +
            (at <= log.commit ? `, committed at ${at}` : ', nor of the one before'),
        );
      }
    }
    const granted = this.grants.get(t);
    const voted = (id: NodeId): boolean => (id === n.id && isVoter(m)) || granted?.get(id) === n.id;
    if (!quorumOf(m, voted)) {
      const by = [...(granted ?? [])].filter(([, to]) => to === n.id).map(([from]) => from);
      throw new SafetyViolation(
        INVARIANTS.electionQuorum,
        `node ${n.id} leads term ${t} with votes from [${[n.id, ...by].join(',')}] only, not a quorum of ${describeMembership(m)}`,
      );
    }
  }

  /**
   * §5.3, §5.4.2, §4.3: a leader moves its commit index only to an entry of its own term, and
   * only once that entry is on the disks of a quorum of its configuration (a majority of each
   * half when joint) — the leader itself counted only if it is a voter, learners never.
   */
  private checkCommitQuorum(n: SimNode, t: number): void {
    const c = n.commit();
    const ct = n.termAt(c);
    if (ct !== t) {
      throw new SafetyViolation(
        INVARIANTS.commitQuorum,
        `leader ${n.id} of term ${t} moved its commit index to ${c}, an entry of term ${ct} (§5.4.2)`,
      );
    }
    const m = this.configOf(n, INVARIANTS.commitQuorum);
    const holds = (id: NodeId): boolean => {
      const h = this.nodeOf(id);
      return h !== undefined && durablyHolds(h.storage, c, ct);
    };
    if (!quorumOf(m, holds)) {
      const on = [...new Set([...m.voters, ...m.outgoing, ...m.learners])].filter(holds);
      throw new SafetyViolation(
        INVARIANTS.commitQuorum,
        `leader ${n.id} of term ${t} committed ${c}, durable only on [${on.join(',')}], not a quorum of ${describeMembership(m)}`,
      );
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
          `node ${n.id} applied entry ${e.index} (term ${e.term}) in place ${i + 1} of its sequence, but the ` +
            `entry committed at index ${i + 1} is ${c === undefined ? 'not known yet' : `(term ${c.term}) with other contents`}`,
        );
      }
    }
    n.appliedChecked = n.applied.length;
  }
}
