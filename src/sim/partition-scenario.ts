import type { TraceEvent } from '../raft/config.js';
import { NotLeaderError } from '../raft/errors.js';
import { type NodeId, Role } from '../raft/types.js';
import { Cluster, type TimelineEvent } from './cluster.js';
import { drawLog, formatMs } from './format.js';

/** How the deposed-leader scenario is played. */
export interface PartitionScenarioOptions {
  readonly seed?: number;
  /** Crash the cut-off leader during the partition and restart it after the partition heals. */
  readonly crashDuringPartition?: boolean;
  readonly checkQuorum?: boolean;
  readonly preVote?: boolean;
  /** Receives the readable timeline, one line at a time. */
  readonly print?: (line: string) => void;
}

/** What happened, for the tests to assert and the timeline to summarise. */
export interface PartitionScenarioReport {
  readonly cluster: Cluster;
  readonly oldLeader: NodeId;
  readonly oldTerm: number;
  readonly newLeader: NodeId;
  readonly newTerm: number;
  /** Index and term the old leader gave each write it accepted while cut off. */
  readonly strandedWrites: readonly { payload: string; index: number; term: number }[];
  /** The old leader's commit index when the partition started and when it healed. */
  readonly oldCommitAtCut: number;
  readonly oldCommitAtHeal: number;
  /** Virtual ms from the cut until the old leader stepped down (-1: not before the heal, or it crashed first). */
  readonly stepDownAfterMs: number;
  /** Did the old leader lead again while its log still held a stranded write? (Must never happen.) */
  readonly oldLeaderWonWithStaleLog: boolean;
  readonly electionTimeoutMs: number;
}

const TICK_MS = 10;
const ELECTION_TICKS = 10;

/**
 * The classic case from the study notes: leader A is cut off alone, {A} | {B, C}; A keeps taking
 * writes that can never commit while B and C elect a leader in a higher term; when the partition
 * heals A must not lead again and its uncommitted entries are overwritten — whether A stayed up
 * or crashed and rebooted.
 */
export function runPartitionScenario(options: PartitionScenarioOptions = {}): PartitionScenarioReport {
  const print = options.print;
  const stepDowns: { node: NodeId; at: number }[] = [];
  const c = new Cluster({
    seed: options.seed ?? 7,
    checkQuorum: options.checkQuorum ?? true,
    preVote: options.preVote ?? true,
    tickMs: TICK_MS,
    electionTicks: ELECTION_TICKS,
    onEvent: (e: TimelineEvent) => {
      if (e.kind === 'core' && e.event.type === 'step-down') stepDowns.push({ node: e.event.node, at: e.at });
      print?.(formatEvent(e));
    },
  });
  const electionTimeoutMs = TICK_MS * ELECTION_TICKS;
  const ids = [...c.nodes.keys()];
  const must = (ok: boolean, what: string): void => {
    if (!ok) throw new Error(`scenario seed ${c.seed}: ${what} did not happen in time`);
  };

  must(
    c.runUntil(() => c.leader() !== undefined, 10 * electionTimeoutMs),
    'a first election',
  );
  const a = c.leader()!;
  const oldTerm = c.node(a).raw!.raft.term;
  for (let k = 1; k <= 3; k++) c.propose(a, `x=${k}`);
  must(
    c.runUntil(
      () => ids.every((id) => c.node(id).applied.length === c.node(a).lastIndex()),
      electionTimeoutMs,
    ),
    'the first writes to commit everywhere',
  );
  showLogs(c, print, 'before the partition');

  const others = ids.filter((id) => id !== a);
  c.partition([a], others);
  const cutAt = c.now;
  const oldCommitAtCut = c.node(a).commit();
  const strandedWrites: { payload: string; index: number; term: number }[] = [];
  for (let k = 1; k <= 3; k++) {
    c.runFor(20);
    try {
      const at = c.propose(a, `stranded=${k}`);
      strandedWrites.push({ payload: `stranded=${k}`, index: at.index, term: at.term });
      c.note(
        `${a} accepted write "stranded=${k}" at index ${at.index} (term ${at.term}); it can never commit`,
      );
    } catch (err) {
      if (!(err instanceof NotLeaderError)) throw err;
    }
  }
  must(
    c.runUntil(() => others.some((id) => c.node(id).raw?.raft.role === Role.Leader), 10 * electionTimeoutMs),
    'an election on the majority side',
  );
  const newLeader = others.find((id) => c.node(id).raw?.raft.role === Role.Leader)!;
  const newTerm = c.node(newLeader).raw!.raft.term;
  c.propose(newLeader, 'x=4');
  if (options.crashDuringPartition) {
    c.runFor(50);
    c.crash(a);
  }
  c.runFor(3 * electionTimeoutMs);
  const oldCommitAtHeal = c.node(a).commit();
  showLogs(c, print, 'during the partition');

  const healAt = c.now;
  c.heal();
  if (options.crashDuringPartition) c.restart(a);
  // A holds a stale log as long as any stranded write is still in it.
  const stale = () => strandedWrites.some((w) => sameData(c.node(a).entryAt(w.index)?.data, w.payload));
  let oldLeaderWonWithStaleLog = false;
  const watchA = () => {
    const r = c.node(a).raw?.raft;
    if (r?.role === Role.Leader && r.term > oldTerm && stale()) oldLeaderWonWithStaleLog = true;
    return false;
  };
  // Before it hears from anyone, A times out and campaigns with its stale log (§5.4.1: it must lose).
  if (c.node(a).raw!.raft.role === Role.Leader) {
    c.note(`${a} still believes it leads term ${oldTerm}; its next heartbeat will meet the higher term`);
  } else {
    c.note(`${a} times out and campaigns with its stale log`);
    c.node(a).raw!.campaign();
  }
  watchA();
  c.runUntil(watchA, 6 * electionTimeoutMs);
  showLogs(c, print, 'after the partition healed');
  const stepDown = stepDowns.find((s) => s.node === a && s.at >= cutAt && s.at < healAt);
  return {
    cluster: c,
    oldLeader: a,
    oldTerm,
    newLeader,
    newTerm,
    strandedWrites,
    oldCommitAtCut,
    oldCommitAtHeal,
    stepDownAfterMs: stepDown === undefined ? -1 : stepDown.at - cutAt,
    oldLeaderWonWithStaleLog,
    electionTimeoutMs,
  };
}

const decoder = new TextDecoder();

function sameData(data: Uint8Array | undefined, payload: string): boolean {
  return data !== undefined && decoder.decode(data) === payload;
}

function showLogs(c: Cluster, print: ((line: string) => void) | undefined, when: string): void {
  if (print === undefined) return;
  print(`          ── logs ${when} (entry terms; "|" follows the commit index) ──`);
  for (const n of c.nodes.values()) {
    const r = n.raw?.raft;
    const state = r === undefined ? 'down' : `${r.role} in term ${r.term}`;
    print(`            ${n.id}: ${drawLog(n.terms(), n.commit()).padEnd(32)} ${state}`);
  }
}

/** One timeline line, e.g. `t=  140ms  a LEADS term 2`. */
export function formatEvent(e: TimelineEvent): string {
  const at = `t=${formatMs(e.at).padStart(5)}ms`;
  if (e.kind === 'note') return `${at}  ** ${e.text}`;
  return `${at}  ${describeCore(e.event)}`;
}

function describeCore(e: TraceEvent): string {
  switch (e.type) {
    case 'role':
      return e.role === Role.Leader
        ? `${e.node} LEADS term ${e.term}`
        : `${e.node} is ${e.role} in term ${e.term}`;
    case 'commit':
      return `${e.node} commits through index ${e.commit}`;
    case 'truncate':
      return `${e.node} OVERWRITES its uncommitted entries from index ${e.from} (terms ${e.terms.join(',')})`;
    case 'step-down':
      return `${e.node} steps down in term ${e.term}: ${e.reason}`;
    case 'restore':
      return `${e.node} installs the leader's snapshot through index ${e.index} (term ${e.term})`;
  }
}
