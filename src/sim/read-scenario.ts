import type { NodeId } from '../raft/types.js';
import type { ClientOp } from './client-history.js';
import { Cluster, type TimelineEvent } from './cluster.js';
import { type ClientHistoryReport, checkClientHistory } from './history-check.js';
import { formatEvent } from './partition-scenario.js';

/**
 * How the deposed-leader read scenario is played. Times are virtual milliseconds. "A" is whichever
 * node wins the first election; "B's side" the others.
 */
export interface ReadScenarioOptions {
  readonly seed?: number;
  /** Default on. With it off, leases are off too (they rest on it). */
  readonly checkQuorum?: boolean;
  /** Serve `lease` reads from leases (default: whenever CheckQuorum is on). */
  readonly leaseReads?: boolean;
  readonly preVote?: boolean;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  /** The drift the lease allows for (default 0.1). */
  readonly clockDriftBound?: number;
  /** The old leader's clock drift (default: −bound, the slowest clock within the bound). */
  readonly leaderDrift?: number;
  /** B's and C's clock drift (default: +bound, the fastest clock within the bound). */
  readonly followerDrift?: number;
  /** Overrides the lease duration (default: as RaftNode). */
  readonly leaseMs?: number;
  /** Receives the readable timeline, one line at a time. */
  readonly print?: (line: string) => void;
}

/** What happened, for the tests to assert. */
export interface ReadScenarioReport {
  readonly cluster: Cluster;
  /** A: the leader that is cut off. */
  readonly oldLeader: NodeId;
  /** The node that acknowledged the overwrite (it led B's side then). */
  readonly newLeader: NodeId | undefined;
  /** When the partition started and when the majority's overwrite was acknowledged (-1: never). */
  readonly cutAt: number;
  readonly overwriteAckedAt: number;
  /** Did A's lease still hold (on A's own clock) when the overwrite was acknowledged? */
  readonly leaseHeldAtOverwrite: boolean;
  /** Reads sent to A the moment the overwrite was acknowledged. */
  readonly linearizable: ClientOp;
  readonly lease: ClientOp;
  readonly stale: ClientOp;
  /** Lease reads a client kept sending to A from the cut on, one at a time. */
  readonly leaseReadsAtA: readonly ClientOp[];
  /** The history checked as the randomized runs check it (stale reads left out). */
  readonly check: ClientHistoryReport;
  /** The same history with the stale read in: the checker must reject it. */
  readonly checkWithStale: ClientHistoryReport;
}

const KEY = 'x';
const OLD = 'old';
const READ_TIMEOUT_MS = 300;

/**
 * The seed scenario of the read paths: A leads and `x = old` is acknowledged; {A} | {B, C}; a
 * client keeps sending lease reads to A while another writes `x = new` through B's side until the
 * new leader acknowledges it; at that very moment three clients read x at A — linearizable,
 * lease and stale. A linearizable or lease read must not return `old` (it fails or times out);
 * the stale read does (the hazard). Every client operation goes into the history.
 */
export function runReadScenario(options: ReadScenarioOptions = {}): ReadScenarioReport {
  const bound = options.clockDriftBound ?? 0.1;
  const checkQuorum = options.checkQuorum ?? true;
  const c = new Cluster({
    seed: options.seed ?? 7,
    checkQuorum,
    preVote: options.preVote ?? true,
    leaseReads: options.leaseReads ?? checkQuorum,
    tickMs: options.tickMs ?? 10,
    electionTicks: options.electionTicks ?? 10,
    clockDriftBound: bound,
    ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
    onEvent: (e: TimelineEvent) => {
      if (e.kind === 'note' || e.event.type === 'role' || e.event.type === 'step-down')
        options.print?.(formatEvent(e));
    },
  });
  const tickMs = options.tickMs ?? 10;
  const electionMs = tickMs * (options.electionTicks ?? 10);
  const must = (ok: boolean, what: string): void => {
    if (!ok) throw new Error(`read scenario seed ${c.seed}: ${what} did not happen in time`);
  };

  must(
    c.runUntil(() => c.leader() !== undefined, 10 * electionMs),
    'a first election',
  );
  const a = c.leader()!;
  const others = [...c.nodes.keys()].filter((id) => id !== a);
  // Clocks as the options ask, from now on: by default A's is the slowest and the others' the
  // fastest the bound allows, the worst case for A's lease.
  c.setClockDrift(a, options.leaderDrift ?? -bound);
  for (const id of others) c.setClockDrift(id, options.followerDrift ?? bound);
  const first = c.put(0, a, KEY, OLD);
  must(
    c.runUntil(() => first.status === 'ok', electionMs),
    `x = ${OLD} acknowledged`,
  );
  c.note(`${a} acknowledged x = ${OLD}`);
  // Let a few heartbeat rounds go by so that A holds a lease, then cut A off.
  c.runFor(3 * electionMs + (c.seed % 17));
  c.partition([a], others);
  const cutAt = c.now;

  const leaseReadsAtA: ClientOp[] = [];
  let done = false;
  const readAtA = (): void => {
    if (done) return;
    const op = c.get(1, a, KEY, 'lease', {
      timeoutMs: READ_TIMEOUT_MS,
      onEnd: () => c.later(c.now + tickMs / 10, 'next lease read at A', readAtA),
    });
    leaseReadsAtA.push(op);
  };
  readAtA();

  let overwrite: ClientOp | undefined;
  let tries = 0;
  const write = (): void => {
    const node = others[tries++ % others.length]!;
    overwrite = c.put(2, node, KEY, 'new', {
      timeoutMs: electionMs,
      onEnd: (op) => {
        if (op.status !== 'ok') c.later(c.now + 1, 'retry the overwrite', write);
      },
    });
  };
  write();
  const acked = c.runUntil(() => overwrite?.status === 'ok', 20 * electionMs);
  const overwriteAckedAt = acked ? c.now : -1;
  const leaseHeldAtOverwrite = c.clients.leaseHolds(c.node(a));
  c.note(
    `${overwrite?.node} acknowledged x = new; ${a}'s lease ${leaseHeldAtOverwrite ? 'STILL HOLDS' : 'has run out'}`,
  );
  const linearizable = c.get(3, a, KEY, 'linearizable', { timeoutMs: READ_TIMEOUT_MS });
  const lease = c.get(4, a, KEY, 'lease', { timeoutMs: READ_TIMEOUT_MS });
  const stale = c.get(5, a, KEY, 'stale', { timeoutMs: READ_TIMEOUT_MS });
  done = true;
  c.runUntil(() => linearizable.status !== 'open' && lease.status !== 'open', 2 * READ_TIMEOUT_MS);
  c.runFor(READ_TIMEOUT_MS);
  for (const op of [linearizable, lease, stale]) {
    const how = op.status === 'ok' ? `returned "${op.value}"` : `${op.status} (${op.reason})`;
    c.note(
      `the ${op.consistency} read of x at ${a} sent at t=${op.invokedAt.toFixed(1)}: ${how} at t=${op.endedAt.toFixed(1)}`,
    );
  }
  const source = `read scenario seed ${c.seed}`;
  return {
    cluster: c,
    oldLeader: a,
    newLeader: acked ? overwrite?.node : undefined,
    cutAt,
    overwriteAckedAt,
    leaseHeldAtOverwrite,
    linearizable,
    lease,
    stale,
    leaseReadsAtA,
    check: checkClientHistory(c.history, source),
    checkWithStale: checkClientHistory(c.history, source, { includeStale: true }),
  };
}
