import { type CheckOptions, checkHistory, type HistoryCheck } from '../../src/check/check-history.js';
import type { EventType, History, OpName, Scalar } from '../../src/check/history.js';
import { parseJsonlHistory } from '../../src/check/jsonl-history.js';
import { kvModel } from '../../src/check/register-model.js';

/** One event of a test history; `key` defaults to `k`. */
export interface TestEvent {
  readonly time: number;
  readonly process: number;
  readonly type: EventType;
  readonly f: OpName;
  readonly key?: string;
  readonly value?: Scalar;
  readonly expected?: Scalar;
}

/** `ev(time, process, type, f, value?, expected?)` on key `k`. */
export function ev(
  time: number,
  process: number,
  type: EventType,
  f: OpName,
  value?: Scalar,
  expected?: Scalar,
): TestEvent {
  return { time, process, type, f, value, expected };
}

/** The same event on another key. */
export function on(key: string, event: TestEvent): TestEvent {
  return { ...event, key };
}

/** A JSON Lines history, one event per line, in the given order. */
export function toJsonl(events: readonly TestEvent[]): string {
  return events.map((e) => JSON.stringify({ ...e, key: e.key ?? 'k' })).join('\n');
}

export function kvHistory(events: readonly TestEvent[]): History {
  return parseJsonlHistory(toJsonl(events), { source: 'test' });
}

/** Checks the events against the KV model. */
export function checkKv(events: readonly TestEvent[], options: CheckOptions = {}): HistoryCheck {
  return checkHistory(kvHistory(events), kvModel, options);
}
