import type { Scalar } from '../../src/check/index.js';
import type { HistoryLine } from './history-recorder.js';

/** A write answered as not applied whose value was read afterwards: the answer broke its promise. */
export interface FailedWriteSeen {
  readonly key: string;
  readonly value: Scalar;
  /** Why the write was recorded as failed, e.g. `ERR_NO_LEADER` or `ERR_CONDITION_FAILED`. */
  readonly error: string;
  readonly detail: string;
}

const timeOf = (t: number): string => `t=${t.toFixed(1)}`;

/**
 * Finds values that a read returned although the only write of that value (values are unique) was
 * answered as failed — a direct view of what makes such a history not linearizable, naming the
 * answer that was wrong. `leftOut` holds the cas operations left out of the history as refused
 * (invoke and fail pairs): a value only they wrote makes no sense to the checker at all.
 */
export function findFailedWritesSeen(
  lines: readonly HistoryLine[],
  leftOut: readonly HistoryLine[] = [],
): FailedWriteSeen[] {
  const failed = new Map<Scalar, { invoke: HistoryLine; end: HistoryLine }>();
  const reads: { invoke: HistoryLine; end: HistoryLine }[] = [];
  pairUp(leftOut, (invoke, end) => {
    if (invoke.value !== undefined) failed.set(invoke.value, { invoke, end });
  });
  pairUp(lines, (invoke, line) => {
    const writesValue = invoke.f === 'put' || invoke.f === 'cas';
    if (writesValue && line.type === 'fail' && invoke.value !== undefined)
      failed.set(invoke.value, { invoke, end: line });
    if (invoke.f === 'get' && line.type === 'ok' && line.value !== null && line.value !== undefined) {
      reads.push({ invoke, end: line });
    }
  });
  return report(failed, reads);
}

/** The values of every put and cas answered as failed or left out: they should never be read. */
export function valuesOfFailedWrites(
  lines: readonly HistoryLine[],
  leftOut: readonly HistoryLine[],
): Set<Scalar> {
  const values = new Set<Scalar>();
  const collect = (invoke: HistoryLine, end: HistoryLine) => {
    if ((invoke.f === 'put' || invoke.f === 'cas') && end.type === 'fail' && invoke.value !== undefined) {
      values.add(invoke.value);
    }
  };
  pairUp(lines, collect);
  pairUp(leftOut, collect);
  return values;
}

/** Calls `each` with every invocation and the next completion of its process. */
function pairUp(lines: readonly HistoryLine[], each: (invoke: HistoryLine, end: HistoryLine) => void): void {
  const open = new Map<number, HistoryLine>();
  for (const line of lines) {
    if (line.type === 'invoke') {
      open.set(line.process, line);
      continue;
    }
    const invoke = open.get(line.process);
    open.delete(line.process);
    if (invoke !== undefined) each(invoke, line);
  }
}

function report(
  failed: ReadonlyMap<Scalar, { invoke: HistoryLine; end: HistoryLine }>,
  reads: readonly { invoke: HistoryLine; end: HistoryLine }[],
): FailedWriteSeen[] {
  const out: FailedWriteSeen[] = [];
  const reported = new Set<Scalar>();
  for (const r of reads) {
    const value = r.end.value ?? null;
    const w = failed.get(value);
    if (w === undefined || reported.has(value) || w.invoke.key !== r.invoke.key) continue;
    reported.add(value);
    const error = w.end.error ?? 'no reason recorded';
    out.push({
      key: r.invoke.key,
      value,
      error,
      detail:
        `${w.invoke.f} ${r.invoke.key} = ${JSON.stringify(value)} sent to node ${w.invoke.node ?? '?'} at ` +
        `${timeOf(w.invoke.time)} was answered ${error} (not applied) at ${timeOf(w.end.time)}, yet the get of ` +
        `process ${r.invoke.process} (node ${r.invoke.node ?? '?'}, ${timeOf(r.invoke.time)}–${timeOf(r.end.time)}) read it`,
    });
  }
  return out;
}
