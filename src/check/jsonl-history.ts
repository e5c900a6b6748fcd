import { HistoryParseError } from './errors.js';
import {
  type EventType,
  type History,
  type HistoryEvent,
  OP_NAMES,
  type OpName,
  operationsFromEvents,
  type Scalar,
} from './history.js';

/** Events read from one history before the parser refuses it; each costs about 200 bytes. */
export const EVENTS_MAX_DEFAULT = 5_000_000;

const EVENT_TYPES: readonly EventType[] = ['invoke', 'ok', 'fail', 'info'];

/** Options shared by the history parsers. */
export interface ParseOptions {
  /** Name used in error messages, usually the file name. */
  readonly source?: string;
  /** Refuse histories with more events than this. */
  readonly eventsMax?: number;
}

/**
 * Reads a Flotilla history: JSON Lines, one event per line, e.g.
 * `{"process":3,"type":"invoke","f":"cas","key":"k1","value":2,"expected":1,"time":17}`.
 * Blank lines are skipped; anything else malformed throws a {@link HistoryParseError} naming the line.
 */
export function parseJsonlHistory(text: string, options: ParseOptions = {}): History {
  const source = options.source ?? 'history';
  return operationsFromEvents(parseJsonlEvents(text, options), source);
}

/** The events of a JSON Lines history, unpaired. */
export function parseJsonlEvents(text: string, options: ParseOptions = {}): HistoryEvent[] {
  const source = options.source ?? 'history';
  const eventsMax = options.eventsMax ?? EVENTS_MAX_DEFAULT;
  const events: HistoryEvent[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const trimmed = (lines[i] ?? '').trim();
    if (trimmed === '') continue;
    if (events.length === eventsMax) {
      throw new HistoryParseError(
        source,
        i + 1,
        `more than ${eventsMax} events; split the history or raise eventsMax`,
      );
    }
    events.push(parseEventLine(trimmed, i + 1, source));
  }
  return events;
}

function parseEventLine(text: string, line: number, source: string): HistoryEvent {
  const fail = (detail: string): never => {
    throw new HistoryParseError(source, line, detail);
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return fail(`not valid JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return fail('expected a JSON object with process, type, f, key and time');
  }
  const o = parsed as Record<string, unknown>;
  const { process, type, f, key, time } = o;
  if (typeof process !== 'number' || !Number.isSafeInteger(process)) {
    fail(`"process" must be an integer, got ${JSON.stringify(process)}`);
  }
  if (!EVENT_TYPES.includes(type as EventType)) {
    fail(`"type" must be one of ${EVENT_TYPES.join(', ')}, got ${JSON.stringify(type)}`);
  }
  if (!OP_NAMES.includes(f as OpName))
    fail(`"f" must be one of ${OP_NAMES.join(', ')}, got ${JSON.stringify(f)}`);
  if (key !== undefined && typeof key !== 'string')
    fail(`"key" must be a string, got ${JSON.stringify(key)}`);
  if (typeof time !== 'number' || !Number.isFinite(time)) {
    fail(`"time" must be a number (a monotonic clock reading), got ${JSON.stringify(time)}`);
  }
  return {
    process: process as number,
    type: type as EventType,
    f: f as OpName,
    key: key as string | undefined,
    value: scalarField(o, 'value', fail),
    expected: scalarField(o, 'expected', fail),
    time: time as number,
    line,
  };
}

function scalarField(
  o: Record<string, unknown>,
  field: string,
  fail: (detail: string) => never,
): Scalar | undefined {
  const value = o[field];
  if (value === undefined || value === null || typeof value === 'string' || typeof value === 'boolean')
    return value;
  if (typeof value === 'number') return value;
  return fail(
    `"${field}" must be a JSON scalar (string, number, boolean or null), got ${JSON.stringify(value)}`,
  );
}
