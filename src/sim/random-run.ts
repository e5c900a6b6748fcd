import { assert } from '../raft/assert.js';
import { members } from '../raft/membership.js';
import { NONE, type NodeId, Role } from '../raft/types.js';
import type { ClientOp } from './client-history.js';
import { Cluster, type ClusterOptions, SimulationFailure } from './cluster.js';
import { formatMs } from './format.js';
import { checkClientHistory, LinearizabilityViolation, type ReadCounts } from './history-check.js';
import { INVARIANTS, SafetyViolation } from './invariants.js';
import { type MembershipCounts, MembershipNemesis } from './membership-nemesis.js';
import { Prng } from './prng.js';
import { SimKv } from './sim-kv.js';
import { Workload } from './workload.js';

/** The shape of one randomized run. Times are virtual milliseconds. */
export interface RandomRunOptions {
  /** How long faults are injected before everything heals. */
  readonly faultMs?: number;
  /** After healing, how long the cluster has to elect a leader and converge. */
  readonly convergeMs?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  /** Serve `lease` reads from leases (needs CheckQuorum); drawn per seed unless pinned. */
  readonly leaseReads?: boolean;
  /** Each node's clock drifts within ± this (default 0.1, the bound the lease assumes). */
  readonly clockDriftBound?: number;
  /**
   * Membership changes too: 5 or 6 node slots of which 3 (sometimes 1) start as voters, and a
   * nemesis that asks the leader for configuration changes and leadership transfers throughout
   * the faults (see MembershipNemesis). Off by default: a seed replays the same run either way.
   */
  readonly membership?: boolean;
  readonly onEvent?: ClusterOptions['onEvent'];
  /** Receives the run's client history as JSON Lines (stale reads left out), checked or not. */
  readonly onHistory?: (jsonl: string) => void;
}

export interface RandomRunResult {
  readonly seed: number;
  /** Node slots; with membership changes, not all of them are members at any one time. */
  readonly nodes: number;
  /** Voters at the start. */
  readonly initialVoters: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly leaseReads: boolean;
  readonly steps: number;
  readonly committed: number;
  readonly acked: number;
  /** Snapshots that followers installed from a leader (InstallSnapshot). */
  readonly snapshotsInstalled: number;
  /** Virtual ms from the start to the first leader. */
  readonly firstElectionMs: number;
  /** Virtual ms from healing every fault to a converged cluster (one leader, every log equal and applied). */
  readonly recoveryMs: number;
  readonly faults: readonly string[];
  /** Client operations: reads by kind (all but stale ones checked for linearizability) and writes. */
  readonly reads: ReadCounts;
  /** Operations the linearizability check saw. */
  readonly opsChecked: number;
  /** What the membership nemesis did (membership runs only). */
  readonly membership: MembershipCounts | undefined;
  /** The members (voters and learners) the run converged on. */
  readonly finalMembers: readonly NodeId[];
}

/** After healing, the run did not converge, or a converged cluster was disrupted. */
export class LivenessFailure extends Error {
  constructor(
    readonly code: 'ERR_NO_CONVERGENCE' | 'ERR_DISRUPTED',
    message: string,
  ) {
    super(message);
    this.name = 'LivenessFailure';
  }
}

/** Node slots, in order; a run uses a prefix. */
const SLOTS: readonly NodeId[] = ['a', 'b', 'c', 'd', 'e', 'f'];
/** The membership nemesis asks for a change every 40–250 virtual ms. */
const CHANGE_EVERY_MS: readonly [number, number] = [40, 250];
/** A learner is promoted only while within this many entries of the leader (see MembershipNemesis). */
const PROMOTE_LAG_MAX = 10;
/**
 * After a membership run has converged it must stay quiet this long (10 base election timeouts):
 * one leader in one term, whatever removed nodes do (thesis §4.2.3).
 */
const QUIET_TIMEOUTS = 10;
/** The longest a message takes on the calm network of the end of a run. */
const CALM_DELAY_MAX_MS = 3;
/** The base election timeout of the runs: the Cluster's default electionTicks × tickMs. */
const ELECTION_TIMEOUT_MS = 10 * 10;

/**
 * One seeded run: a 3- or 5-node cluster under a random schedule of partitions, one-way cuts,
 * loss, duplication, reordering, crashes and restarts, with clients writing and reading (every
 * consistency) throughout, each node on its own drifting clock. Safety is checked after every
 * event; at the end everything heals and the run must converge with every acknowledged write
 * committed on every node, a read of every key must succeed, and the client history of puts,
 * deletes, cas and gets (stale reads aside) must be linearizable. With `membership`, configuration changes and transfers run
 * alongside the faults, convergence is demanded of the final configuration's members, and the
 * converged cluster must then stay quiet. Throws SimulationFailure on any violation.
 */
export function randomRun(seed: number, options: RandomRunOptions = {}): RandomRunResult {
  const faultMs = options.faultMs ?? 2000;
  const convergeMs = options.convergeMs ?? 5000;
  const membership = options.membership ?? false;
  const plan = new Prng(seed ^ 0x5eed);
  const size = plan.chance(0.7) ? 3 : 5;
  // With membership changes: a pool of slots larger than the voters; the spare ones start empty.
  const ids = membership ? SLOTS.slice(0, plan.pick([5, 6])) : SLOTS.slice(0, size);
  const voters = membership ? ids.slice(0, plan.pick([3, 3, 3, 1])) : ids;
  // Unless pinned, each seed draws its own settings so that every path of the core gets exercised.
  let snapshotsInstalled = 0;
  const preVote = options.preVote ?? plan.chance(0.5);
  const checkQuorum = options.checkQuorum ?? plan.chance(0.5);
  // The clients draw from a stream of their own: the fault schedule of a seed does not depend on them.
  const load = new Prng(seed ^ 0x10ad);
  const leaseReads = checkQuorum && (options.leaseReads ?? load.chance(0.75));
  const driftBound = options.clockDriftBound ?? 0.1;
  const replayArgs = replayFlags(options);
  const c: Cluster = new Cluster({
    seed,
    ids,
    voters,
    replayArgs,
    preVote,
    checkQuorum,
    leaseReads,
    clockDriftBound: driftBound,
    clockDrifts: Object.fromEntries(ids.map((id) => [id, drawDrift(load, driftBound)])),
    inflightMax: plan.pick([1, 4, 64]),
    entryBytesMax: plan.pick([1, 16, 1 << 20]),
    // Half the seeds compact their logs often, so that followers far behind need a snapshot.
    snapshotEntries: plan.pick([0, 0, 0, 5, 20, 60]),
    retainEntries: plan.pick([0, 3, 10]),
    onEvent: (e) => {
      if (e.kind === 'core' && e.event.type === 'restore') snapshotsInstalled++;
      options.onEvent?.(e);
    },
  });
  const faults: string[] = [];
  let firstElectionMs = -1;
  const observe = (): void => {
    if (firstElectionMs < 0 && c.leader() !== undefined) firstElectionMs = c.now;
  };

  new Workload(c, load, {
    clients: load.between(3, 6),
    keys: ['k0', 'k1', 'k2'].slice(0, load.between(1, 3)),
    mix: { put: 4, delete: 1, cas: 2, linearizable: 3, lease: 3, stale: 1 },
    timeoutMs: load.pick([100, 300, 1000]),
    thinkMsMax: load.pick([2, 10, 20]),
    until: faultMs,
  }).start();
  // The nemesis draws from a stream of its own: its choices do not shift the fault schedule's draws.
  const changes = new Prng(seed ^ 0xc0f1);
  const nemesis = membership
    ? new MembershipNemesis(c, changes, ids, { promoteLagMax: PROMOTE_LAG_MAX })
    : undefined;
  let nextFault = plan.between(50, 300);
  let nextChange = nemesis === undefined ? Number.POSITIVE_INFINITY : changes.between(...CHANGE_EVERY_MS);
  while (c.now < faultMs) {
    const until = Math.min(nextFault, nextChange, faultMs);
    c.runUntil(() => {
      observe();
      return false;
    }, until - c.now);
    if (c.now >= nextFault) {
      nextFault = c.now + plan.between(50, 300);
      faults.push(`t=${formatMs(c.now)} ${injectFault(c, plan, ids)}`);
    }
    if (nemesis !== undefined && c.now >= nextChange) {
      nextChange = c.now + changes.between(...CHANGE_EVERY_MS);
      faults.push(`t=${formatMs(c.now)} ${askForChange(c, nemesis, faults)}`);
    }
  }

  // Heal everything and demand convergence: a leader, and every node holding the committed log.
  c.heal();
  c.network.faults = { loss: 0, duplicate: 0, delayMin: 1, delayMax: CALM_DELAY_MAX_MS };
  for (const id of ids) c.restart(id);
  const healedAt = c.now;
  let converged = c.runUntil(() => {
    observe();
    return isConverged(c);
  }, convergeMs);
  // The configuration is final now: the members are the leader's voters and learners.
  const finalMembers = converged && membership ? members(c.node(c.leader()!).raw!.membership()) : ids;
  if (converged && membership && !preVote && !checkQuorum) {
    // Thesis §4.2.3: with neither PreVote nor CheckQuorum, a removed server that never learned of
    // its removal disrupts the cluster with ever higher terms; the operator shuts it down.
    let stopped = false;
    for (const id of ids) {
      if (finalMembers.includes(id) || !c.node(id).up) continue;
      c.crash(id);
      stopped = true;
      faults.push(`t=${formatMs(c.now)} decommission ${id} (removed; no PreVote, no CheckQuorum)`);
    }
    // A vote request one of them sent before it stopped may still be on the wire (calm network:
    // at most 3 ms) and unseat the leader once more: let it land, then converge again.
    if (stopped) {
      c.runFor(CALM_DELAY_MAX_MS);
      converged = c.runUntil(() => isConverged(c), convergeMs);
    }
  }
  // Liveness once healed: a new write commits and reaches every state machine.
  if (converged) {
    const ackedBefore = c.acked.length;
    c.propose(c.leader()!, 'final');
    converged = c.runUntil(() => c.acked.length > ackedBefore && isConverged(c), convergeMs);
  }
  if (!converged) {
    throw new SimulationFailure(
      seed,
      c.steps,
      c.now,
      new LivenessFailure(
        'ERR_NO_CONVERGENCE',
        `no convergence within ${convergeMs}ms after healing: ${describeNodes(c, ids)}`,
      ),
      faults.slice(-20),
      replayArgs,
    );
  }
  checkAckedWrites(c, ids);
  // The store the committed log builds: what every member must hold, and each cas's outcome.
  const store = new SimKv();
  store.reset(c.checker.committed);
  checkKvConverged(c, finalMembers, store);
  finalReads(c, finalMembers, load, convergeMs, faults);
  if (membership) checkQuiet(c, faults);
  // Converged: every entry still in a log is committed, and no other will ever be.
  const committed = (i: number, t: number): boolean => c.checker.committed[i - 1]?.term === t;
  const conditionHeld = (i: number): boolean => {
    const held = store.conditionHeld(i);
    assert(held !== undefined, `random-run: a committed cas at index ${i}`);
    return held;
  };
  const resolution = { committed, conditionHeld };
  const history = checkClientHistory(c.history, `seed ${seed}`, resolution);
  options.onHistory?.(c.history.toJsonl(resolution));
  if (history.explanation !== undefined) {
    throw new SimulationFailure(
      seed,
      c.steps,
      c.now,
      new LinearizabilityViolation(history.explanation),
      faults.slice(-20),
      replayArgs,
    );
  }
  return {
    seed,
    nodes: ids.length,
    initialVoters: voters.length,
    preVote,
    checkQuorum,
    leaseReads,
    steps: c.steps,
    committed: c.checker.committed.length,
    acked: c.acked.length,
    snapshotsInstalled,
    firstElectionMs,
    recoveryMs: c.now - healedAt,
    faults,
    reads: history.reads,
    opsChecked: history.check.operationCount,
    membership: nemesis?.counts(),
    finalMembers,
  };
}

/** One step of the nemesis; a failure in it (a broken invariant, a wrong refusal) stops the run. */
function askForChange(c: Cluster, nemesis: MembershipNemesis, faults: readonly string[]): string {
  try {
    return nemesis.step();
  } catch (err) {
    if (err instanceof SimulationFailure) throw err;
    throw new SimulationFailure(c.seed, c.steps, c.now, err as Error, faults.slice(-20), c.replayArgs);
  }
}

/** The flags `npm run sim` needs to replay a run with these options, besides `--seed N`. */
export function replayFlags(o: RandomRunOptions): string {
  const flags: string[] = [];
  if (o.membership) flags.push('--membership');
  if (o.preVote === false) flags.push('--no-prevote');
  if (o.checkQuorum === false) flags.push('--no-checkquorum');
  if (o.leaseReads === false) flags.push('--no-lease');
  if (o.clockDriftBound !== undefined) flags.push(`--drift-bound ${o.clockDriftBound}`);
  if (o.faultMs !== undefined && o.faultMs !== 2000) flags.push(`--fault-ms ${o.faultMs}`);
  return flags.join(' ');
}

/**
 * Once converged, the cluster stays quiet for QUIET_TIMEOUTS election timeouts: the same leader in
 * the same term. Nodes removed from the configuration — knowing it or not — and spare ones keep
 * running and timing out; PreVote or CheckQuorum must keep them from raising anyone's term.
 */
function checkQuiet(c: Cluster, faults: string[]): void {
  const lead = c.leader()!;
  const term = c.node(lead).raw!.raft.term;
  c.runFor(QUIET_TIMEOUTS * ELECTION_TIMEOUT_MS);
  const now = c.leader();
  const nowTerm = now === undefined ? undefined : c.node(now).raw!.raft.term;
  if (now === lead && nowTerm === term && c.leaders().length === 1) return;
  throw new SimulationFailure(
    c.seed,
    c.steps,
    c.now,
    new LivenessFailure(
      'ERR_DISRUPTED',
      `the converged cluster was disrupted: ${lead} led term ${term}, ${QUIET_TIMEOUTS} election timeouts later ` +
        `${now === undefined ? 'no one leads' : `${now} leads term ${nowTerm}`} (${describeNodes(c, [...c.nodes.keys()])})`,
    ),
    faults.slice(-20),
    c.replayArgs,
  );
}

/**
 * Liveness of reads once healed: every key read at a random member of `ids` (linearizable) and at
 * the leader (lease) must succeed; a node outside the configuration no longer learns what commits. The reads join the history that is checked next.
 */
function finalReads(c: Cluster, ids: readonly NodeId[], load: Prng, ms: number, faults: string[]): void {
  const ops: ClientOp[] = [];
  const keys = [...new Set(c.history.ops.map((op) => op.key))].sort();
  keys.forEach((key, k) => {
    ops.push(c.get(FINAL_PROCESS + 2 * k, load.pick(ids), key, 'linearizable', { timeoutMs: ms }));
    ops.push(c.get(FINAL_PROCESS + 2 * k + 1, c.leader()!, key, 'lease', { timeoutMs: ms }));
  });
  c.runUntil(() => ops.every((op) => op.status !== 'open'), ms);
  const failed = ops.find((op) => op.status !== 'ok');
  if (failed !== undefined) {
    throw new SimulationFailure(
      c.seed,
      c.steps,
      c.now,
      new Error(
        `after healing, a ${failed.consistency} read of ${failed.key} at ${failed.node} did not succeed: ${failed.status} (${failed.reason})`,
      ),
      faults.slice(-20),
      c.replayArgs,
    );
  }
}

/** A node's clock drift within ±bound; half the nodes sit at an edge, where leases are tightest. */
function drawDrift(rng: Prng, bound: number): number {
  if (rng.chance(0.5)) return rng.chance(0.5) ? bound : -bound;
  return (2 * rng.nextFloat() - 1) * bound;
}

/** Client process numbers of the final reads, above any the workload uses. */
const FINAL_PROCESS = 1000;

function injectFault(c: Cluster, plan: Prng, ids: readonly NodeId[]): string {
  const roll = plan.nextInt(10);
  const victim = plan.pick(ids);
  switch (roll) {
    case 0:
    case 1: {
      const shuffled = plan.shuffle(ids);
      const cut = plan.between(1, ids.length - 1);
      c.partition(shuffled.slice(0, cut), shuffled.slice(cut));
      return `partition ${shuffled.slice(0, cut)} | ${shuffled.slice(cut)}`;
    }
    case 2: {
      // The leader, when there is one: a cut-off leader is where reads go wrong.
      const cut = c.leader() ?? victim;
      c.partition(
        [cut],
        ids.filter((id) => id !== cut),
      );
      return `isolate ${cut}`;
    }
    case 3: {
      const other = plan.pick(ids.filter((id) => id !== victim));
      c.network.cut(victim, other);
      return `cut ${victim}→${other}`;
    }
    case 4:
      c.heal();
      return 'heal';
    case 5:
      c.crash(victim);
      return `crash ${victim}`;
    case 6:
      c.restart(victim);
      return `restart ${victim}`;
    case 7:
      c.network.faults = {
        loss: plan.nextInt(30) / 100,
        duplicate: plan.nextInt(10) / 100,
        delayMin: 1,
        delayMax: plan.chance(0.5) ? 3 : plan.between(10, 60),
      };
      return `network ${JSON.stringify(c.network.faults)}`;
    case 8:
      c.network.faults = { loss: 0, duplicate: 0, delayMin: 1, delayMax: 3 };
      return 'network calm';
    default: {
      const leader = c.leader();
      if (leader === undefined) return 'no-op';
      c.crash(leader);
      return `crash leader ${leader}`;
    }
  }
}

/**
 * One leader, in a settled configuration (not joint, no transfer under way), whose whole log is
 * committed and held and applied by every member of that configuration, each following it. Nodes
 * outside the configuration (spare or removed) are not waited for.
 */
function isConverged(c: Cluster): boolean {
  const lead = c.leader();
  if (lead === undefined || c.leaders().length !== 1) return false;
  const leader = c.node(lead);
  const raw = leader.raw!;
  const m = raw.membership();
  if (m.outgoing.length > 0 || raw.raft.leadTransferee !== NONE) return false;
  const last = leader.lastIndex();
  if (leader.commit() !== last) return false;
  return members(m).every((id) => {
    const n = c.node(id);
    return n.lastIndex() === last && n.applied.length === last && n.raw?.raft.lead === lead;
  });
}

/** No acknowledged write lost: each one is in the committed log where it was acknowledged. */
function checkAckedWrites(c: Cluster, ids: readonly NodeId[]): void {
  const decoder = new TextDecoder();
  for (const a of c.acked) {
    const e = c.checker.committed[a.index - 1];
    if (e === undefined || e.term !== a.term || decoder.decode(e.data) !== a.payload) {
      throw new SimulationFailure(
        c.seed,
        c.steps,
        c.now,
        new SafetyViolation('I6 Committed entries stay committed', `acknowledged write ${a.payload} lost`),
        [],
        c.replayArgs,
      );
    }
  }
  for (const id of ids) c.checker.check(c.node(id));
}

/** Every node's key-value map is the one the committed log builds (I5, seen by the store). */
function checkKvConverged(c: Cluster, ids: readonly NodeId[], expected: SimKv): void {
  for (const id of ids) {
    const key = c.node(id).kv.differsFrom(expected);
    if (key === undefined) continue;
    throw new SimulationFailure(
      c.seed,
      c.steps,
      c.now,
      new SafetyViolation(
        INVARIANTS.stateMachineSafety,
        `node ${id} holds ${JSON.stringify(c.node(id).kv.get(key) ?? null)} at key ${key}, the committed log builds ${JSON.stringify(expected.get(key) ?? null)}`,
      ),
      [],
      c.replayArgs,
    );
  }
}

function describeNodes(c: Cluster, ids: readonly NodeId[]): string {
  return ids
    .map((id) => {
      const n = c.node(id);
      const r = n.raw?.raft;
      const lead = r === undefined || r.lead === NONE || r.role === Role.Leader ? '' : ` lead=${r.lead}`;
      const line = `${id}: ${r?.role ?? 'down'} t${r?.term}${lead} last=${n.lastIndex()} commit=${n.commit()} applied=${n.applied.length}`;
      if (r === undefined || r.role !== Role.Leader) return line;
      // What the leader thinks of each member: most stuck runs are explained here.
      const m = n.raw!.membership();
      const progress = [...r.progress]
        .map(([p, pr]) => `${p}=${pr.state}:${pr.match}/${pr.next}${pr.probeSent ? '*' : ''}`)
        .join(',');
      return `${line} config={voters ${m.voters.join(',')}${m.outgoing.length > 0 ? ` outgoing ${m.outgoing.join(',')}` : ''} learners ${m.learners.join(',') || '-'}} progress={${progress}}`;
    })
    .join('; ');
}
