import { eventValues } from './edn-history.js';
import { EdnSyntaxError, type EdnValue, readEdn } from './edn-reader.js';
import { HistoryParseError } from './errors.js';
import {
  type EventType,
  type History,
  type HistoryEvent,
  type OpName,
  operationsFromEvents,
} from './history.js';
import { EVENTS_MAX_DEFAULT, type ParseOptions } from './jsonl-history.js';

/** Options of {@link parseJepsenLog}. */
export interface JepsenLogOptions extends ParseOptions {
  /** The register's key in the result; a Jepsen log holds one register. */
  readonly key?: string;
}

const OPERATION_LINE =
  /^\s*INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(read|write|cas)(?:\s+(.*?))?\s*$/;

/**
 * Reads a Jepsen log of a single compare-and-set register (the etcd analysis' `jepsen.util` lines):
 *
 *     INFO  jepsen.util - 3	:invoke	:cas	[1 4]
 *
 * giving `read`, `write` and `cas` operations for the register model, ordered by line. Fields may
 * be separated by tabs or spaces; lines that are not operations are ignored. A line that is an
 * operation but whose value is not EDN throws a {@link HistoryParseError} naming the line.
 */
export function parseJepsenLog(text: string, options: JepsenLogOptions = {}): History {
  const source = options.source ?? 'history';
  const key = options.key ?? 'register';
  const eventsMax = options.eventsMax ?? EVENTS_MAX_DEFAULT;
  const events: HistoryEvent[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const match = OPERATION_LINE.exec(lines[i] ?? '');
    if (match === null) continue;
    const line = i + 1;
    if (events.length === eventsMax) {
      throw new HistoryParseError(
        source,
        line,
        `more than ${eventsMax} events; split the history or raise eventsMax`,
      );
    }
    const fail = (detail: string): never => {
      throw new HistoryParseError(source, line, detail);
    };
    const [, process, type, f, valueText] = match;
    const process_ = Number(process);
    if (!Number.isSafeInteger(process_)) fail(`process ${process} is too large`);
    const raw = valueText === undefined || valueText === '' ? undefined : readValue(valueText, fail);
    const values = eventValues(f as OpName, raw, fail);
    events.push({
      process: process_,
      type: type as EventType,
      f: f as OpName,
      key,
      ...values,
      time: line,
      line,
    });
  }
  return operationsFromEvents(events, source);
}

function readValue(text: string, fail: (detail: string) => never): EdnValue {
  try {
    return readEdn(text);
  } catch (err) {
    if (err instanceof EdnSyntaxError)
      return fail(`the value ${JSON.stringify(text)} is not EDN: ${err.message}`);
    throw err;
  }
}
