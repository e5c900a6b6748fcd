import { assert } from '../raft/assert.js';
import { ConfigError } from '../raft/errors.js';
import { UnsupportedOperationError } from './errors.js';
import type { History, Operation } from './history.js';
import { type Budget, DEFAULT_BUDGET, searchLinearization, type UnknownReason } from './linearizability.js';
import type { Model } from './model.js';

/** `ok`: linearizable; `violation`: provably not; `unknown`: the budget ran out first. */
export type Verdict = 'ok' | 'violation' | 'unknown';

/** An operation that could not be ordered next, and why. */
export interface UnorderedOperation {
  readonly op: Operation;
  readonly reason: string;
}

/** Evidence that a key's history is not linearizable. */
export interface Violation {
  /** The longest order of operations the search could build, in order. */
  readonly prefix: readonly Operation[];
  /** The model state after {@link prefix}, in words. */
  readonly stateAfterPrefix: string;
  /** The completed operation with the earliest return that is not in the prefix: it must come next. */
  readonly blocking: Operation;
  /**
   * Every operation called before {@link blocking} returned and not in the prefix, except those of
   * unknown outcome that would change nothing there.
   */
  readonly unordered: readonly UnorderedOperation[];
}

/** The verdict for one key. */
export interface KeyCheck {
  readonly key: string;
  readonly verdict: Verdict;
  /** This key's operations, sorted by call time. */
  readonly operations: readonly Operation[];
  readonly steps: number;
  readonly elapsedMs: number;
  /** When `ok`: an order that works (operations of unknown outcome it left out are not listed). */
  readonly linearization?: readonly Operation[];
  readonly violation?: Violation;
  /** When `unknown`: which budget ran out. */
  readonly unknownReason?: string;
}

/** The verdict for a whole history: the worst of its keys' verdicts. */
export interface HistoryCheck {
  readonly source: string;
  readonly model: string;
  readonly verdict: Verdict;
  readonly keys: readonly KeyCheck[];
  readonly operationCount: number;
  readonly droppedCount: number;
  readonly elapsedMs: number;
  readonly budget: Budget;
}

/** Options of {@link checkHistory}. */
export interface CheckOptions {
  /** Per-key limits; unset fields take {@link DEFAULT_BUDGET}'s. */
  readonly budget?: Partial<Budget>;
}

/**
 * Checks a history key by key (linearizability is compositional: a history is linearizable iff
 * each object's sub-history is, Herlihy & Wing 1990 §3.3). Throws {@link UnsupportedOperationError}
 * when the model does not define an operation.
 */
export function checkHistory<S>(history: History, model: Model<S>, options: CheckOptions = {}): HistoryCheck {
  const budget = resolveBudget(options.budget);
  const started = performance.now();
  for (const op of history.operations) {
    const problem = model.validate(op);
    if (problem !== undefined) throw new UnsupportedOperationError(model.name, op.line, problem);
  }
  const keys = [...groupByKey(history.operations)].map(([key, ops]) => checkKey(model, key, ops, budget));
  const verdict: Verdict = keys.some((k) => k.verdict === 'violation')
    ? 'violation'
    : keys.some((k) => k.verdict === 'unknown')
      ? 'unknown'
      : 'ok';
  return {
    source: history.source,
    model: model.name,
    verdict,
    keys,
    operationCount: history.operations.length,
    droppedCount: history.droppedCount,
    elapsedMs: performance.now() - started,
    budget,
  };
}

/** Checks one key's operations, which must be sorted by call time. */
export function checkKey<S>(
  model: Model<S>,
  key: string,
  ops: readonly Operation[],
  budget: Budget,
): KeyCheck {
  const started = performance.now();
  const outcome = searchLinearization(model, ops, budget);
  const base = { key, operations: ops, steps: outcome.steps };
  const pick = (i: number): Operation => {
    const op = ops[i];
    assert(op !== undefined, `check: operation index ${i} < ${ops.length}`);
    return op;
  };
  switch (outcome.verdict) {
    case 'ok':
      return { ...base, verdict: 'ok', linearization: outcome.order.map(pick), elapsedMs: elapsed(started) };
    case 'violation': {
      const violation = buildViolation(model, ops, outcome.prefix.map(pick), outcome.stateAfterPrefix);
      return { ...base, verdict: 'violation', violation, elapsedMs: elapsed(started) };
    }
    case 'unknown': {
      const unknownReason = describeUnknown(outcome.reason, budget);
      return { ...base, verdict: 'unknown', unknownReason, elapsedMs: elapsed(started) };
    }
  }
}

const elapsed = (started: number): number => performance.now() - started;

/** Operations grouped by key, in order of each key's first call; each group keeps call order. */
export function groupByKey(ops: readonly Operation[]): Map<string, Operation[]> {
  const groups = new Map<string, Operation[]>();
  for (const op of ops) {
    const group = groups.get(op.key);
    if (group === undefined) groups.set(op.key, [op]);
    else group.push(op);
  }
  return groups;
}

/**
 * Names what blocked the search after its longest prefix: the completed operation that returned
 * first among those left, and each operation that could have been next, with the reason it failed.
 */
export function buildViolation<S>(
  model: Model<S>,
  ops: readonly Operation[],
  prefix: readonly Operation[],
  state: S,
): Violation {
  const placed = new Set(prefix.map((op) => op.id));
  let blocking: Operation | undefined;
  for (const op of ops) {
    if (placed.has(op.id) || op.outcome === 'unknown') continue;
    if (blocking === undefined || op.ret < blocking.ret) blocking = op;
  }
  assert(blocking !== undefined, 'check: a violation leaves a completed operation unordered');
  const deadline = blocking.ret;
  const unordered: UnorderedOperation[] = [];
  for (const op of ops) {
    if (placed.has(op.id) || op.call > deadline) continue;
    const after = model.step(state, op);
    // An operation of unknown outcome that would change nothing is as good as left out.
    if (after !== undefined && op.outcome === 'unknown' && model.key(after) === model.key(state)) continue;
    const reason =
      after === undefined
        ? `impossible when ${model.describeState(state)}`
        : 'possible here, but no order of the remaining operations works after it';
    unordered.push({ op, reason });
  }
  return { prefix, stateAfterPrefix: model.describeState(state), blocking, unordered };
}

function describeUnknown(reason: UnknownReason, budget: Budget): string {
  switch (reason) {
    case 'steps':
      return `step budget exhausted (stepsMax ${budget.stepsMax})`;
    case 'time':
      return `time budget exhausted (msMax ${budget.msMax})`;
    case 'cache':
      return `cache budget exhausted (cacheEntriesMax ${budget.cacheEntriesMax})`;
  }
}

function resolveBudget(partial: Partial<Budget> | undefined): Budget {
  const budget: Budget = {
    stepsMax: partial?.stepsMax ?? DEFAULT_BUDGET.stepsMax,
    msMax: partial?.msMax ?? DEFAULT_BUDGET.msMax,
    cacheEntriesMax: partial?.cacheEntriesMax ?? DEFAULT_BUDGET.cacheEntriesMax,
  };
  for (const [field, value] of Object.entries(budget)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new ConfigError(`budget.${field} must be a positive integer, got ${String(value)}`);
    }
  }
  return budget;
}
