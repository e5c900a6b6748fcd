import { checkHistory, type HistoryCheck } from '../check/check-history.js';
import { explainViolation } from '../check/explain.js';
import { operationsFromEvents } from '../check/history.js';
import type { Budget } from '../check/linearizability.js';
import { kvModel } from '../check/register-model.js';
import { assert } from '../raft/assert.js';
import type { CheckedOptions, ClientHistory, ClientOp } from './client-history.js';

/** Successful reads of a run by kind, and what became of the writes (as the clients saw it). */
export interface ReadCounts {
  /** `linearizable` gets that returned a value: all checked. */
  linearizable: number;
  /** `lease` gets that returned a value: all checked. */
  lease: number;
  /** ...of which served from the leader's lease without a round trip (the rest fell back to ReadIndex). */
  leaseServed: number;
  /** Checked gets served by a follower with a read index from the leader. */
  followerReads: number;
  /** `stale` gets that returned a value: not checked (they may be stale by contract). */
  stale: number;
  /** Gets that failed or timed out (they observed nothing). */
  readsFailed: number;
  /** Writes (put, delete, cas) that took effect. */
  writesOk: number;
  /** Writes that certainly did not run (refused, or another entry took their index). */
  writesFailed: number;
  /** Writes whose outcome the client never learned (timeout, crash). */
  writesUnknown: number;
  /** Of all writes: deletes, and cas operations by what the client saw. */
  deletes: number;
  casOk: number;
  /** A cas that ran and found the key not holding what it expected: checked like a read. */
  casConditionFailed: number;
  /** A cas that never ran: left out of the checked history. */
  casNeverRan: number;
}

/** What checking a run's client history found. */
export interface ClientHistoryReport {
  readonly check: HistoryCheck;
  readonly reads: ReadCounts;
  /** Why the history is not linearizable (or why the check gave up); undefined when it is. */
  readonly explanation: string | undefined;
}

/** A run's client history is not linearizable (or could not be shown to be). */
export class LinearizabilityViolation extends Error {
  readonly code = 'ERR_NOT_LINEARIZABLE';
  constructor(explanation: string) {
    super(`client history not linearizable: ${explanation}`);
    this.name = 'LinearizabilityViolation';
  }
}

/**
 * Per key, deterministic (steps decide, not wall time) and far above what a run's few hundred
 * operations per key need.
 */
const BUDGET: Partial<Budget> = { stepsMax: 5_000_000, msMax: 120_000 };

/**
 * Checks a run's client history key by key against the KV model (src/check); stale reads are left
 * out unless `options.includeStale`. On a violation the explanation names, for each operation it
 * mentions, the node, the consistency and how the read was served.
 */
export function checkClientHistory(
  history: ClientHistory,
  source: string,
  options: CheckedOptions = {},
): ClientHistoryReport {
  const checked = history.checked(options);
  const parsed = operationsFromEvents(
    checked.map((c) => c.event),
    source,
  );
  const check = checkHistory(parsed, kvModel, { budget: BUDGET });
  const reads = countReads(history.ops);
  if (check.verdict === 'ok') return { check, reads, explanation: undefined };
  const bad = check.keys.find((k) => k.verdict === 'violation') ?? check.keys.find((k) => k.verdict !== 'ok');
  assert(bad !== undefined, 'history-check: a verdict other than ok names a key');
  if (bad.violation === undefined) {
    return { check, reads, explanation: `the checker gave up on key "${bad.key}": ${bad.unknownReason}` };
  }
  const v = bad.violation;
  const named = new Set<number>();
  for (const op of [...v.prefix.slice(-5), v.blocking, ...v.unordered.map((u) => u.op)]) named.add(op.line);
  const legend = [...named]
    .sort((a, b) => a - b)
    .map((line) => `  line ${line}: ${describeClientOp(checked[line - 1]!.op)}`);
  return {
    check,
    reads,
    explanation: `${explainViolation(bad)}\nThe operations named above, as the simulator ran them:\n${legend.join('\n')}`,
  };
}

/** E.g. `op 7 process 2: get k1 at a (lease, served by lease) t=120.0–121.0ms → "v7"`. */
export function describeClientOp(op: ClientOp): string {
  let how = '';
  if (op.f === 'get') how = ` (${op.consistency}${op.path === undefined ? '' : `, served by ${op.path}`})`;
  else if (op.f === 'put') how = ` = ${JSON.stringify(op.value)}`;
  else if (op.f === 'cas') how = ` ${JSON.stringify(op.expected)}→${JSON.stringify(op.value)}`;
  const span = `t=${op.invokedAt.toFixed(1)}–${Number.isNaN(op.endedAt) ? 'open' : `${op.endedAt.toFixed(1)}ms`}`;
  let result = ` ${op.status}${op.reason === '' ? '' : ` (${op.reason})`}`;
  if (op.status === 'ok') result = op.f === 'get' ? ` → ${JSON.stringify(op.value)}` : ' ok';
  return `op ${op.id} process ${op.process}: ${op.f} ${op.key} at ${op.node}${how} ${span}${result}`;
}

function emptyCounts(): ReadCounts {
  return {
    linearizable: 0,
    lease: 0,
    leaseServed: 0,
    followerReads: 0,
    stale: 0,
    readsFailed: 0,
    writesOk: 0,
    writesFailed: 0,
    writesUnknown: 0,
    deletes: 0,
    casOk: 0,
    casConditionFailed: 0,
    casNeverRan: 0,
  };
}

/** Reads by kind and writes by outcome, as the clients saw them. */
export function countReads(ops: readonly ClientOp[]): ReadCounts {
  const c = emptyCounts();
  for (const op of ops) {
    if (op.f !== 'get') {
      countWrite(c, op);
      continue;
    }
    if (op.status !== 'ok') {
      c.readsFailed++;
      continue;
    }
    if (op.consistency === 'stale') c.stale++;
    else if (op.consistency === 'lease') c.lease++;
    else c.linearizable++;
    if (op.path === 'lease') c.leaseServed++;
    if (op.path === 'follower-read-index') c.followerReads++;
  }
  return c;
}

function countWrite(c: ReadCounts, op: ClientOp): void {
  if (op.f === 'delete') c.deletes++;
  if (op.f === 'cas' && op.status === 'ok') c.casOk++;
  if (op.f === 'cas' && op.status === 'fail') {
    if (op.neverRan) c.casNeverRan++;
    else c.casConditionFailed++;
  }
  if (op.status === 'ok') c.writesOk++;
  else if (op.status === 'fail' && op.neverRan) c.writesFailed++;
  else if (op.status !== 'fail') c.writesUnknown++;
}

/** Adds up the read counts of many runs. */
export function sumReads(all: readonly ReadCounts[]): ReadCounts {
  const total = emptyCounts();
  for (const r of all) for (const k of Object.keys(total) as (keyof ReadCounts)[]) total[k] += r[k];
  return total;
}

/** How many operations and reads of each kind the histories held, in a few lines. */
export function describeReads(r: ReadCounts, ops: number): string {
  return (
    `client histories: ${ops} operations checked for linearizability\n` +
    `  reads checked: linearizable ${r.linearizable}, lease ${r.lease} (${r.leaseServed} served by the lease, ` +
    `the rest by ReadIndex); ${r.followerReads} of these served by a follower with the leader's read index\n` +
    `  reads not checked: stale ${r.stale} (may be stale by contract); ${r.readsFailed} failed or timed out\n` +
    `  writes: ok ${r.writesOk}, failed ${r.writesFailed}, outcome unknown to the client ${r.writesUnknown}\n` +
    `  of which deletes ${r.deletes}; cas: ok ${r.casOk}, condition failed ${r.casConditionFailed} (checked), ` +
    `never ran ${r.casNeverRan} (left out)`
  );
}
