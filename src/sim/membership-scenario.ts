import { isVoter } from '../raft/membership.js';
import { type NodeId, Role } from '../raft/types.js';
import { Cluster } from './cluster.js';

const TICK_MS = 10;
const ELECTION_TICKS = 10;
/** The base election timeout of these scenarios (a node times out after 1–2 of them). */
export const ELECTION_TIMEOUT_MS = TICK_MS * ELECTION_TICKS;

function must(c: Cluster, ok: boolean, what: string): void {
  if (!ok) throw new Error(`scenario seed ${c.seed}: ${what} did not happen in time`);
}

function termOf(c: Cluster, id: NodeId): number {
  return c.node(id).raw!.raft.term;
}

/** How the removed-node scenario is played. */
export interface RemovedNodeOptions {
  readonly seed: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /**
   * Whether the removed node holds the joint entry C(old,new) that removes it before it is cut off
   * from the leader (it knows of its removal; it is still an outgoing voter there and never hears of
   * C(new), which the leader no longer sends it) or holds nothing of the change at all.
   */
  readonly learns: boolean;
  /** Base election timeouts to watch after the removal (default 50). */
  readonly timeouts?: number;
}

/** What the removed-node scenario saw. */
export interface RemovedNodeReport {
  readonly cluster: Cluster;
  readonly leader: NodeId;
  readonly removed: NodeId;
  /** The leader's term once C(new) committed, and when the watch ended. */
  readonly term: number;
  readonly termAfter: number;
  /** Who led when the watch ended. */
  readonly leaderAfter: NodeId | undefined;
  /** Elections the removed node started while watched (pre-votes included). */
  readonly campaigns: number;
  /** The removed node's term when the watch started and when it ended. */
  readonly removedTerm: number;
  readonly removedTermAfter: number;
  /** Whether the removed node's own log holds the joint entry that removes it. */
  readonly removedHoldsJoint: boolean;
  /** Whether a write proposed at the end committed on every remaining voter within an election timeout. */
  readonly writeCommitted: boolean;
}

/**
 * Thesis §4.2.3: a voter is removed from a 3-node cluster and then hears nothing more from the
 * leader (its inbound link is cut; it can still send to everyone). It keeps timing out and
 * campaigning with its old configuration. The rest of the cluster must go on under the same
 * leader in the same term — PreVote (peers that hear from a leader refuse to pre-vote) and
 * CheckQuorum (peers that hear from a leader ignore vote requests) each see to it.
 */
export function runRemovedNodeScenario(o: RemovedNodeOptions): RemovedNodeReport {
  let campaigns = 0;
  let watching = false;
  let removed: NodeId = '';
  const c = new Cluster({
    seed: o.seed,
    preVote: o.preVote,
    checkQuorum: o.checkQuorum,
    tickMs: TICK_MS,
    electionTicks: ELECTION_TICKS,
    onEvent: (e) => {
      if (watching && e.kind === 'core' && e.event.type === 'role' && e.event.node === removed) {
        if (e.event.role === Role.PreCandidate || e.event.role === Role.Candidate) campaigns++;
      }
    },
  });
  const ids = [...c.nodes.keys()];
  must(
    c,
    c.runUntil(() => c.leader() !== undefined, 20 * ELECTION_TIMEOUT_MS),
    'a first election',
  );
  const leader = c.leader()!;
  c.propose(leader, 'x=1');
  must(
    c,
    c.runUntil(() => ids.every((id) => c.node(id).applied.length === c.node(leader).lastIndex()), 500),
    'the first write to commit everywhere',
  );
  removed = ids.find((id) => id !== leader)!;
  const rest = ids.filter((id) => id !== removed);
  const cutOff = (): void => {
    for (const id of rest) c.network.cut(id, removed);
    c.note(`${rest.join(',')} → ${removed} cut: ${removed} hears from no one`);
  };
  if (!o.learns) cutOff();
  const joint = c.proposeConfChange(leader, { voters: rest, learners: [] });
  if (o.learns) {
    must(
      c,
      c.runUntil(() => c.node(removed).storage.lastIndex() >= joint, 500),
      `${removed} to store the joint entry`,
    );
    cutOff();
  }
  must(
    c,
    c.runUntil(() => {
      const raw = c.node(leader).raw!;
      const m = raw.membership();
      return (
        m.outgoing.length === 0 && !isVoter(m, removed) && raw.raft.log.commit === raw.raft.log.lastIndex()
      );
    }, 1000),
    'C(new) to commit',
  );
  const term = termOf(c, leader);
  const removedTerm = termOf(c, removed);
  watching = true;
  c.runFor((o.timeouts ?? 50) * ELECTION_TIMEOUT_MS);
  watching = false;
  const leaderAfter = c.leader();
  let writeCommitted = false;
  if (leaderAfter !== undefined) {
    const at = c.propose(leaderAfter, 'x=2');
    writeCommitted = c.runUntil(
      () => rest.every((id) => c.node(id).applied.length >= at.index),
      ELECTION_TIMEOUT_MS,
    );
  }
  return {
    cluster: c,
    leader,
    removed,
    term,
    termAfter: termOf(c, leaderAfter ?? leader),
    leaderAfter,
    campaigns,
    removedTerm,
    removedTermAfter: termOf(c, removed),
    removedHoldsJoint: c.node(removed).lastIndex() >= joint && c.node(removed).termAt(joint) === term,
    writeCommitted,
  };
}

/** Two slots, a the only voter and leading with its first entry committed; b has no configuration. */
function soloLeader(seed: number): Cluster {
  const c = new Cluster({
    seed,
    ids: ['a', 'b'],
    voters: ['a'],
    tickMs: TICK_MS,
    electionTicks: ELECTION_TICKS,
  });
  must(
    c,
    c.runUntil(() => c.leader() === 'a' && c.node('a').commit() >= 1, 20 * ELECTION_TIMEOUT_MS),
    'a to lead',
  );
  return c;
}

/**
 * A one-voter cluster {a} adds b as a voter directly, and a crashes before b has received the
 * joint entry. Once a restarts, electing anyone needs votes of a majority of both {a} and {a, b},
 * so b's vote — which b, started with no configuration, must give on a's log alone (it once
 * refused candidates its own configuration did not list). Returns whether a leader is elected
 * within `timeouts` election timeouts.
 */
export function directVoterAddElects(seed: number, timeouts = 30): boolean {
  const c = soloLeader(seed);
  c.partition(['a'], ['b']);
  const joint = c.proposeConfChange('a', { voters: ['a', 'b'], learners: [] });
  must(
    c,
    c.runUntil(() => c.node('a').storage.lastIndex() >= joint, 100),
    'a to persist the joint entry',
  );
  c.crash('a');
  c.runFor(10); // whatever a sent before it crashed is lost in the partition
  c.heal();
  c.restart('a');
  return c.runUntil(() => c.leader() !== undefined, timeouts * ELECTION_TIMEOUT_MS);
}

/**
 * A one-voter cluster {a} replaces a by b. The joint entry commits (b holds it), a appends
 * C(new) = {b} and crashes before b has received it. Now b needs a's vote (a is the outgoing half
 * of b's joint configuration) but a's log is longer, so a — not a voter of its own latest,
 * uncommitted configuration — must campaign itself (thesis §4.2.2); it once never did. Returns
 * whether a leader is elected within `timeouts` election timeouts.
 */
export function removedLeaderElects(seed: number, timeouts = 30): boolean {
  const c = soloLeader(seed);
  c.proposeConfChange('a', { voters: ['b'], learners: [] });
  // The joint entry commits; in that same event a appends C(new): cut b off before it arrives.
  must(
    c,
    c.runUntil(() => c.node('a').raw!.membership().outgoing.length === 0, 100),
    'a to append C(new)',
  );
  c.partition(['a'], ['b']);
  const last = c.node('a').lastIndex();
  must(
    c,
    c.runUntil(() => c.node('a').storage.lastIndex() >= last, 100),
    'a to persist C(new)',
  );
  c.crash('a');
  c.runFor(10); // whatever a sent before it crashed is lost in the partition
  c.heal();
  c.restart('a');
  return c.runUntil(() => c.leader() !== undefined, timeouts * ELECTION_TIMEOUT_MS);
}
