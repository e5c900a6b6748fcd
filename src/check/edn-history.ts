import { EdnKeyword, EdnSymbol, EdnSyntaxError, type EdnValue, readEdn } from './edn-reader.js';
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
import { EVENTS_MAX_DEFAULT, type ParseOptions } from './jsonl-history.js';

const EVENT_TYPES: readonly EventType[] = ['invoke', 'ok', 'fail', 'info'];

/** Options of {@link parseEdnHistory}. */
export interface EdnParseOptions extends ParseOptions {
  /** Key of events without `:key` (a single-register history); without it `:key` is required. */
  readonly defaultKey?: string;
}

/** The `value` and `expected` an operation's EDN `:value` stands for. */
export interface EventValues {
  readonly value: Scalar | undefined;
  readonly expected: Scalar | undefined;
}

/**
 * Reads a Jepsen-style EDN history, one map per line, e.g.
 * `{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}`. Events are ordered by
 * line. A `cas` value is `[expected new]`. Lines whose `:process` is not an integer (`:nemesis`)
 * are skipped, as are blank and `;` comment lines. Throws {@link HistoryParseError} naming the line.
 */
export function parseEdnHistory(text: string, options: EdnParseOptions = {}): History {
  const source = options.source ?? 'history';
  const eventsMax = options.eventsMax ?? EVENTS_MAX_DEFAULT;
  const events: HistoryEvent[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const trimmed = (lines[i] ?? '').trim();
    if (trimmed === '' || trimmed.startsWith(';')) continue;
    if (events.length === eventsMax) {
      throw new HistoryParseError(
        source,
        i + 1,
        `more than ${eventsMax} events; split the history or raise eventsMax`,
      );
    }
    const event = parseEdnLine(trimmed, i + 1, source, options.defaultKey);
    if (event !== undefined) events.push(event);
  }
  return operationsFromEvents(events, source);
}

function parseEdnLine(
  text: string,
  line: number,
  source: string,
  defaultKey: string | undefined,
): HistoryEvent | undefined {
  const fail = (detail: string): never => {
    throw new HistoryParseError(source, line, detail);
  };
  let map: EdnValue;
  try {
    map = readEdn(text);
  } catch (err) {
    if (err instanceof EdnSyntaxError) return fail(`not EDN: ${err.message}`);
    throw err;
  }
  if (!(map instanceof Map))
    return fail('expected an EDN map such as {:process 0, :type :invoke, :f :get, ...}');
  const process = map.get('process');
  if (process instanceof EdnKeyword) return undefined;
  if (typeof process !== 'number' || !Number.isSafeInteger(process)) {
    return fail(`:process must be an integer, got ${describeEdn(process)}`);
  }
  const type = keywordField(map, 'type', EVENT_TYPES, fail);
  const f = keywordField(map, 'f', OP_NAMES, fail);
  const { value, expected } = eventValues(f, map.get('value'), fail);
  const rawKey = map.get('key');
  const key =
    rawKey === undefined
      ? defaultKey
      : typeof rawKey === 'string' || typeof rawKey === 'number'
        ? String(rawKey)
        : rawKey instanceof EdnKeyword
          ? rawKey.name
          : fail(`:key must be a string, number or keyword, got ${describeEdn(rawKey)}`);
  const separateExpected = map.has('expected')
    ? scalar(map.get('expected') ?? null, 'expected', fail)
    : undefined;
  return { process, type, f, key, value, expected: separateExpected ?? expected, time: line, line };
}

function keywordField<T extends string>(
  map: ReadonlyMap<string, EdnValue>,
  field: string,
  allowed: readonly T[],
  fail: (detail: string) => never,
): T {
  const raw = map.get(field);
  if (raw instanceof EdnKeyword && allowed.includes(raw.name as T)) return raw.name as T;
  return fail(`:${field} must be one of ${allowed.map((a) => `:${a}`).join(' ')}, got ${describeEdn(raw)}`);
}

/**
 * Reads an operation's EDN value: a scalar, or `[expected new]` for `cas`. A keyword or symbol
 * (such as `:timed-out`) or no value at all means "no value".
 */
export function eventValues(
  f: OpName,
  raw: EdnValue | undefined,
  fail: (detail: string) => never,
): EventValues {
  if (raw === undefined || raw instanceof EdnKeyword || raw instanceof EdnSymbol) {
    return { value: undefined, expected: undefined };
  }
  if (f === 'cas' && Array.isArray(raw)) {
    if (raw.length !== 2) fail(`a cas value is [expected new], got ${raw.length} items`);
    return { expected: scalar(raw[0], 'value', fail), value: scalar(raw[1], 'value', fail) };
  }
  return { value: scalar(raw, 'value', fail), expected: undefined };
}

function scalar(raw: EdnValue | undefined, field: string, fail: (detail: string) => never): Scalar {
  if (raw === null || typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean')
    return raw;
  return fail(`:${field} must be nil, a string, a number or a boolean, got ${describeEdn(raw)}`);
}

/** A short form of an EDN value for error messages. */
export function describeEdn(value: EdnValue | undefined): string {
  if (value === undefined) return 'nothing';
  if (value instanceof EdnKeyword) return `:${value.name}`;
  if (value instanceof EdnSymbol) return value.name;
  if (value === null) return 'nil';
  if (value instanceof Map) return 'a map';
  if (Array.isArray(value)) return 'a vector';
  return JSON.stringify(value);
}
