import type { NodeId } from '../raft/types.js';
import type { ClientOp } from './client-history.js';
import { Cluster, type ClusterOptions, SimulationFailure } from './cluster.js';
import { formatMs } from './format.js';
import { checkClientHistory, LinearizabilityViolation, type ReadCounts } from './history-check.js';
import { INVARIANTS, SafetyViolation } from './invariants.js';
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
  readonly onEvent?: ClusterOptions['onEvent'];
  /** Receives the run's client history as JSON Lines (stale reads left out), checked or not. */
  readonly onHistory?: (jsonl: string) => void;
}

export interface RandomRunResult {
  readonly seed: number;
  readonly nodes: number;
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
}

/**
 * One seeded run: a 3- or 5-node cluster under a random schedule of partitions, one-way cuts,
 * loss, duplication, reordering, crashes and restarts, with clients writing and reading (every
 * consistency) throughout, each node on its own drifting clock. Safety is checked after every
 * event; at the end everything heals and the run must converge with every acknowledged write
 * committed on every node, a read of every key must succeed, and the client history (stale reads
 * aside) must be linearizable. Throws SimulationFailure on any violation.
 */
export function randomRun(seed: number, options: RandomRunOptions = {}): RandomRunResult {
  const faultMs = options.faultMs ?? 2000;
  const convergeMs = options.convergeMs ?? 5000;
  const plan = new Prng(seed ^ 0x5eed);
  const size = plan.chance(0.7) ? 3 : 5;
  const ids = ['a', 'b', 'c', 'd', 'e'].slice(0, size);
  // Unless pinned, each seed draws its own settings so that every path of the core gets exercised.
  let snapshotsInstalled = 0;
  const preVote = options.preVote ?? plan.chance(0.5);
  const checkQuorum = options.checkQuorum ?? plan.chance(0.5);
  // The clients draw from a stream of their own: the fault schedule of a seed does not depend on them.
  const load = new Prng(seed ^ 0x10ad);
  const leaseReads = checkQuorum && (options.leaseReads ?? load.chance(0.75));
  const driftBound = options.clockDriftBound ?? 0.1;
  const c = new Cluster({
    seed,
    ids,
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
    mix: { put: 5, linearizable: 3, lease: 3, stale: 1 },
    timeoutMs: load.pick([100, 300, 1000]),
    thinkMsMax: load.pick([2, 10, 20]),
    until: faultMs,
  }).start();
  let nextFault = plan.between(50, 300);
  while (c.now < faultMs) {
    const until = Math.min(nextFault, faultMs);
    c.runUntil(() => {
      observe();
      return false;
    }, until - c.now);
    if (c.now >= nextFault) {
      nextFault = c.now + plan.between(50, 300);
      faults.push(`t=${formatMs(c.now)} ${injectFault(c, plan, ids)}`);
    }
  }

  // Heal everything and demand convergence: a leader, and every node holding the committed log.
  c.heal();
  c.network.faults = { loss: 0, duplicate: 0, delayMin: 1, delayMax: 3 };
  for (const id of ids) c.restart(id);
  const healedAt = c.now;
  let converged = c.runUntil(() => {
    observe();
    return isConverged(c, ids);
  }, convergeMs);
  // Liveness once healed: a new write commits and reaches every state machine.
  if (converged) {
    const ackedBefore = c.acked.length;
    c.propose(c.leader()!, 'final');
    converged = c.runUntil(() => c.acked.length > ackedBefore && isConverged(c, ids), convergeMs);
  }
  if (!converged) {
    throw new SimulationFailure(
      seed,
      c.steps,
      c.now,
      new Error(`no convergence within ${convergeMs}ms after healing: ${describeNodes(c, ids)}`),
      faults.slice(-20),
    );
  }
  checkAckedWrites(c, ids);
  checkKvConverged(c, ids);
  finalReads(c, ids, load, convergeMs, faults);
  // Converged: every entry still in a log is committed, and no other will ever be.
  const committed = (i: number, t: number): boolean => c.checker.committed[i - 1]?.term === t;
  const history = checkClientHistory(c.history, `seed ${seed}`, { committed });
  options.onHistory?.(c.history.toJsonl({ committed }));
  if (history.explanation !== undefined) {
    throw new SimulationFailure(
      seed,
      c.steps,
      c.now,
      new LinearizabilityViolation(history.explanation),
      faults.slice(-20),
    );
  }
  return {
    seed,
    nodes: size,
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
  };
}

/**
 * Liveness of reads once healed: every key read at a random node (linearizable) and at the leader
 * (lease) must succeed. The reads join the history that is checked next.
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

function isConverged(c: Cluster, ids: readonly NodeId[]): boolean {
  const lead = c.leader();
  if (lead === undefined || c.leaders().length !== 1) return false;
  const leader = c.node(lead);
  const last = leader.lastIndex();
  if (leader.commit() !== last) return false;
  return ids.every((id) => {
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
      );
    }
  }
  for (const id of ids) c.checker.check(c.node(id));
}

/** Every node's key-value map is the one the committed log builds (I5, seen by the store). */
function checkKvConverged(c: Cluster, ids: readonly NodeId[]): void {
  const expected = new SimKv();
  expected.reset(c.checker.committed);
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
    );
  }
}

function describeNodes(c: Cluster, ids: readonly NodeId[]): string {
  return ids
    .map((id) => {
      const n = c.node(id);
      const r = n.raw?.raft;
      return `${id}: ${r?.role ?? 'down'} t${r?.term} last=${n.lastIndex()} commit=${n.commit()} applied=${n.applied.length}`;
    })
    .join('; ');
}
