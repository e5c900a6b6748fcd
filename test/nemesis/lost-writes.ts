import { describeOperation, type Operation, type Scalar } from '../../src/check/index.js';

/** An acknowledged write the final state contradicts. */
export interface LostWrite {
  readonly key: string;
  readonly finalValue: Scalar;
  readonly detail: string;
}

const writes = (op: Operation): boolean => op.f === 'put' || op.f === 'delete' || op.f === 'cas';
const acknowledged = (op: Operation): boolean => writes(op) && op.outcome === 'ok';

/**
 * Checks that no acknowledged write was lost, key by key, given the value each key holds at the
 * end (values are unique). The final value must have been written by some write W that may have
 * happened (acknowledged or unknown; for `null`, a delete or the initial absence), and no
 * acknowledged write Y may have been called after W returned: Y would have overwritten W, and
 * nothing writes W's value again. The linearizability check implies this when the final reads
 * are in the history; this names the lost write directly. `failedValues` (values of writes
 * answered as failed, which the history drops) only words the report.
 */
export function findLostWrites(
  ops: readonly Operation[],
  finals: ReadonlyMap<string, Scalar>,
  failedValues: ReadonlySet<Scalar> = new Set(),
): LostWrite[] {
  const byKey = new Map<string, Operation[]>();
  for (const op of ops) {
    if (!writes(op) || op.outcome === 'fail') continue;
    const list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, [op]);
    else list.push(op);
  }
  const lost: LostWrite[] = [];
  for (const [key, finalValue] of finals) {
    const found = judgeKey(key, byKey.get(key) ?? [], finalValue, failedValues.has(finalValue));
    if (found !== undefined) lost.push(found);
  }
  return lost;
}

function judgeKey(
  key: string,
  ops: readonly Operation[],
  finalValue: Scalar,
  writtenByAFailure: boolean,
): LostWrite | undefined {
  // Writers that could have left the final value, and when each returned (-∞ for the initial absence).
  const writers =
    finalValue === null
      ? [...ops.filter((op) => op.f === 'delete'), undefined]
      : ops.filter((op) => op.f !== 'delete' && op.value === finalValue);
  if (writers.length === 0) {
    const why = writtenByAFailure ? 'only by a write answered as failed' : 'never';
    return { key, finalValue, detail: `the final value ${JSON.stringify(finalValue)} was written ${why}` };
  }
  const latest = writers.reduce<Operation | undefined>(
    (a, b) => ((a?.ret ?? Number.NEGATIVE_INFINITY) >= (b?.ret ?? Number.NEGATIVE_INFINITY) ? a : b),
    writers[0],
  );
  const returned = latest?.ret ?? Number.NEGATIVE_INFINITY;
  const later = ops.filter((op) => acknowledged(op) && op !== latest && op.call > returned);
  // A later write that leaves the same final state (another delete, for an absent key) is not lost.
  const overwritten = later.filter((op) => !(finalValue === null && op.f === 'delete'));
  if (overwritten.length === 0) return undefined;
  const first = overwritten.reduce((a, b) => (a.call <= b.call ? a : b));
  const source = latest === undefined ? 'the key was never written' : `${describeOperation(latest)} returned`;
  return {
    key,
    finalValue,
    detail:
      `final value ${JSON.stringify(finalValue)}, but ${source} before the acknowledged ` +
      `${describeOperation(first)} (process ${first.process}, line ${first.line}) was called: that write was lost`,
  };
}
