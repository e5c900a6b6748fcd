import { assert } from '../raft/assert.js';
import { HistoryParseError } from './errors.js';

/** A JSON scalar, compared by `===`. In the KV and register models `null` means "absent". */
export type Scalar = string | number | boolean | null;

/** Operation names: KV `get put delete cas`, register `read write cas`, string `append`. */
export const OP_NAMES = ['get', 'put', 'delete', 'cas', 'read', 'write', 'append'] as const;

/** One of {@link OP_NAMES}. */
export type OpName = (typeof OP_NAMES)[number];

/** What a history line says happened: a call, or one of the three ways a call can end. */
export type EventType = 'invoke' | 'ok' | 'fail' | 'info';

/** One line of a history as every parser produces it; `undefined` marks a field the line lacked. */
export interface HistoryEvent {
  readonly process: number;
  readonly type: EventType;
  readonly f: OpName;
  readonly key: string | undefined;
  readonly value: Scalar | undefined;
  readonly expected: Scalar | undefined;
  /** Only orders events: equal times are concurrent. */
  readonly time: number;
  /** 1-based line in the source, for error messages. */
  readonly line: number;
}

/**
 * How an operation ended. `unknown` (completed with `info`, or never completed) may take effect at
 * any time after its call, or never.
 */
export type Outcome = 'ok' | 'fail' | 'unknown';

/** An invocation paired with its completion. */
export interface Operation {
  /** Index in {@link History.operations}, which are sorted by call time. */
  readonly id: number;
  readonly process: number;
  readonly f: OpName;
  readonly key: string;
  /** What was written (put, write, cas), appended (append) or read (get, read); `null` for delete. */
  readonly value: Scalar;
  /** cas only: what the register had to hold (`null` = absent); `null` for every other operation. */
  readonly expected: Scalar;
  readonly outcome: Outcome;
  readonly call: number;
  /** Completion time; `Infinity` when the outcome is unknown. */
  readonly ret: number;
  /** Source line of the invocation. */
  readonly line: number;
  /** Source line of the completion; `undefined` when it never completed. */
  readonly retLine: number | undefined;
}

/** A parsed history: operations of every key, sorted by call time. */
export interface History {
  readonly source: string;
  readonly operations: readonly Operation[];
  /** Operations that cannot affect the verdict and were left out: failed writes, failed or timed-out reads. */
  readonly droppedCount: number;
}

type Draft = Omit<Operation, 'id'>;

const isRead = (f: OpName): boolean => f === 'get' || f === 'read';

/**
 * Pairs each invocation with the next completion of the same process, in time order. Throws a
 * {@link HistoryParseError} naming the line when a process has two operations open at once, when a
 * completion has no invocation, or when a field the operation needs is missing.
 */
export function operationsFromEvents(events: readonly HistoryEvent[], source: string): History {
  const sorted = [...events].sort((a, b) => a.time - b.time || a.line - b.line);
  const open = new Map<number, HistoryEvent>();
  const drafts: Draft[] = [];
  let droppedCount = 0;
  const keep = (draft: Draft | undefined): void => {
    if (draft === undefined) droppedCount++;
    else drafts.push(draft);
  };
  for (const event of sorted) {
    assert(Number.isFinite(event.time), `history: finite event time (line ${event.line})`);
    const pending = open.get(event.process);
    if (event.type === 'invoke') {
      if (pending !== undefined) {
        throw new HistoryParseError(
          source,
          event.line,
          `process ${event.process} invokes ${event.f} while its ${pending.f} from line ${pending.line} is ` +
            'still open; a process runs one operation at a time (end the first with ok, fail or info)',
        );
      }
      if (event.key === undefined) {
        throw new HistoryParseError(source, event.line, `the ${event.f} invocation needs a "key"`);
      }
      open.set(event.process, event);
      continue;
    }
    if (pending === undefined) {
      throw new HistoryParseError(
        source,
        event.line,
        `process ${event.process} ends a ${event.f} (${event.type}) it never invoked; ` +
          'every completion needs an earlier invoke of the same process (check the times)',
      );
    }
    open.delete(event.process);
    keep(pairOperation(pending, event, source));
  }
  for (const invoke of open.values()) keep(pairOperation(invoke, undefined, source));
  drafts.sort((a, b) => a.call - b.call || a.line - b.line);
  return { source, operations: drafts.map((d, id) => ({ id, ...d })), droppedCount };
}

/** The operation an invocation and its completion describe, or `undefined` when it cannot matter. */
function pairOperation(
  invoke: HistoryEvent,
  end: HistoryEvent | undefined,
  source: string,
): Draft | undefined {
  if (end !== undefined && end.f !== invoke.f) {
    throw new HistoryParseError(
      source,
      end.line,
      `process ${end.process} ends a ${end.f} but its open operation is the ${invoke.f} from line ${invoke.line}`,
    );
  }
  if (end?.key !== undefined && end.key !== invoke.key) {
    throw new HistoryParseError(
      source,
      end.line,
      `key ${JSON.stringify(end.key)} differs from ${JSON.stringify(invoke.key)} at the invocation on line ${invoke.line}`,
    );
  }
  const outcome: Outcome =
    end === undefined || end.type === 'info' ? 'unknown' : end.type === 'ok' ? 'ok' : 'fail';
  // A read that did not succeed observed nothing; a write that failed did not happen.
  if (isRead(invoke.f) ? outcome !== 'ok' : outcome === 'fail' && invoke.f !== 'cas') return undefined;
  const key = invoke.key;
  assert(key !== undefined, `history: invocation on line ${invoke.line} has a key`);
  return {
    process: invoke.process,
    f: invoke.f,
    key,
    value: operationValue(invoke, end, source),
    expected: invoke.f === 'cas' ? required(invoke, 'expected', source) : null,
    outcome,
    call: invoke.time,
    ret: outcome === 'unknown' ? Number.POSITIVE_INFINITY : (end?.time ?? Number.POSITIVE_INFINITY),
    line: invoke.line,
    retLine: end?.line,
  };
}

function operationValue(invoke: HistoryEvent, end: HistoryEvent | undefined, source: string): Scalar {
  if (invoke.f === 'delete') return null;
  if (!isRead(invoke.f)) return required(invoke, 'value', source);
  assert(end !== undefined, `history: a kept ${invoke.f} from line ${invoke.line} has a completion`);
  return required(end, 'value', source);
}

function required(event: HistoryEvent, field: 'value' | 'expected', source: string): Scalar {
  const found = event[field];
  if (found !== undefined) return found;
  const what = isRead(event.f)
    ? `a successful ${event.f} needs the "value" it read`
    : `a ${event.f} needs "${field}"`;
  throw new HistoryParseError(source, event.line, `${what} (null means absent)`);
}

/** A scalar as JSON, cut to `charsMax` characters so that reports stay bounded. */
export function formatScalar(value: Scalar, charsMax = 60): string {
  const text = JSON.stringify(value);
  return text.length <= charsMax ? text : `${text.slice(0, charsMax - 1)}…`;
}

/** A short human description, e.g. `get k1 → 3`, `cas k1 1→2 (failed)`, `put k1 = 4 (unknown outcome)`. */
export function describeOperation(op: Operation, charsMax = 60): string {
  const value = formatScalar(op.value, charsMax);
  const suffix = op.outcome === 'unknown' ? ' (unknown outcome)' : op.outcome === 'fail' ? ' (failed)' : '';
  switch (op.f) {
    case 'get':
    case 'read':
      return `${op.f} ${op.key} → ${value}${suffix}`;
    case 'put':
    case 'write':
      return `${op.f} ${op.key} = ${value}${suffix}`;
    case 'delete':
      return `delete ${op.key}${suffix}`;
    case 'append':
      return `append ${op.key} += ${value}${suffix}`;
    case 'cas':
      return `cas ${op.key} ${formatScalar(op.expected, charsMax)}→${value}${suffix}`;
  }
}

/** Where an operation came from, e.g. `process 3, lines 12–15`. */
export function describeOrigin(op: Operation): string {
  const lines =
    op.retLine === undefined
      ? `line ${op.line}, never completed`
      : `lines ${op.line}–${op.retLine}${op.outcome === 'unknown' ? ', ended with info' : ''}`;
  return `process ${op.process}, ${lines}`;
}
