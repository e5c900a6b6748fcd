import type { NodeId } from '../raft/types.js';
import { Cluster, type ClusterOptions, SimulationFailure } from './cluster.js';
import { SafetyViolation } from './invariants.js';
import { Prng } from './prng.js';

/** The shape of one randomized run. Times are virtual milliseconds. */
export interface RandomRunOptions {
  /** How long faults are injected before everything heals. */
  readonly faultMs?: number;
  /** After healing, how long the cluster has to elect a leader and converge. */
  readonly convergeMs?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  readonly onEvent?: ClusterOptions['onEvent'];
}

export interface RandomRunResult {
  readonly seed: number;
  readonly nodes: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
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
}

/**
 * One seeded run: a 3- or 5-node cluster under a random schedule of partitions, one-way cuts,
 * loss, duplication, reordering, crashes and restarts, with a client writing throughout. Safety
 * is checked after every event; at the end everything heals and the run must converge with every
 * acknowledged write committed on every node. Throws SimulationFailure on any violation.
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
  const c = new Cluster({
    seed,
    ids,
    preVote,
    checkQuorum,
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
  let written = 0;
  let firstElectionMs = -1;
  const observe = (): void => {
    if (firstElectionMs < 0 && c.leader() !== undefined) firstElectionMs = c.now;
  };

  let nextFault = plan.between(50, 300);
  let nextWrite = plan.between(3, 15);
  while (c.now < faultMs) {
    const until = Math.min(nextFault, nextWrite, faultMs);
    c.runUntil(() => {
      observe();
      return false;
    }, until - c.now);
    if (c.now >= nextWrite) {
      nextWrite = c.now + plan.between(3, 15);
      written += clientWrite(c, plan, written);
    }
    if (c.now >= nextFault) {
      nextFault = c.now + plan.between(50, 300);
      faults.push(`t=${c.now} ${injectFault(c, plan, ids)}`);
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
  return {
    seed,
    nodes: size,
    preVote,
    checkQuorum,
    steps: c.steps,
    committed: c.checker.committed.length,
    acked: c.acked.length,
    snapshotsInstalled,
    firstElectionMs,
    recoveryMs: c.now - healedAt,
    faults,
  };
}

/** Proposes one write at a random node that believes it leads (a deposed leader may accept it). */
function clientWrite(c: Cluster, plan: Prng, n: number): number {
  const leaders = c.leaders();
  if (leaders.length === 0) return 0;
  c.propose(plan.pick(leaders), `w${n}`);
  return 1;
}

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
    case 2:
      c.partition(
        [victim],
        ids.filter((id) => id !== victim),
      );
      return `isolate ${victim}`;
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

function describeNodes(c: Cluster, ids: readonly NodeId[]): string {
  return ids
    .map((id) => {
      const n = c.node(id);
      const r = n.raw?.raft;
      return `${id}: ${r?.role ?? 'down'} t${r?.term} last=${n.lastIndex()} commit=${n.commit()} applied=${n.applied.length}`;
    })
    .join('; ');
}
