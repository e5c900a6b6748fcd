import type { HistoryCheck, KeyCheck, Verdict } from './check-history.js';
import { describeOperation, describeOrigin } from './history.js';

/** Operations of the longest prefix listed in an explanation; earlier ones are only counted. */
export const PREFIX_LINES_MAX = 12;
/** Unordered operations listed in an explanation; the rest are only counted. */
export const UNORDERED_LINES_MAX = 20;

const VERDICT_WORDS: Record<Verdict, string> = {
  ok: 'linearizable',
  violation: 'NOT linearizable',
  unknown: 'UNKNOWN',
};

/** One line for a key, e.g. `key "k1": NOT linearizable: get k1 → 4 (process 1, lines 9–12) cannot be ordered`. */
export function verdictLine(check: KeyCheck): string {
  const head = `key ${JSON.stringify(check.key)}: ${VERDICT_WORDS[check.verdict]}`;
  const count = check.operations.length;
  if (check.violation !== undefined) {
    const { blocking, prefix } = check.violation;
    return (
      `${head}: ${describeOperation(blocking)} (${describeOrigin(blocking)}) cannot be ordered ` +
      `after the longest linearizable prefix (${prefix.length} of ${count} operations)`
    );
  }
  if (check.verdict === 'unknown')
    return `${head}: ${check.unknownReason ?? 'budget exhausted'} (${count} operations)`;
  return `${head} (${count} operations)`;
}

/** Several lines saying why a key is not linearizable: the longest prefix, then what could not follow it. */
export function explainViolation(check: KeyCheck): string {
  const violation = check.violation;
  if (violation === undefined) return verdictLine(check);
  const { prefix, blocking, unordered } = violation;
  const lines = [
    `key ${JSON.stringify(check.key)} is not linearizable (${check.operations.length} operations, ` +
      `${check.steps} steps).`,
    `Longest linearizable prefix: ${prefix.length} operations, after which ${violation.stateAfterPrefix}.`,
  ];
  const shownFrom = Math.max(0, prefix.length - PREFIX_LINES_MAX);
  if (shownFrom > 0) lines.push(`  … ${shownFrom} earlier operations`);
  prefix.slice(shownFrom).forEach((op, i) => {
    lines.push(`  ${shownFrom + i + 1}. ${describeOperation(op)}  (${describeOrigin(op)})`);
  });
  lines.push(
    `Nothing can come next: ${describeOperation(blocking)} (${describeOrigin(blocking)}) must take effect ` +
      'before it returned, and no operation called by then can be ordered here:',
  );
  for (const { op, reason } of unordered.slice(0, UNORDERED_LINES_MAX)) {
    lines.push(`  - ${describeOperation(op)}  (${describeOrigin(op)}): ${reason}`);
  }
  if (unordered.length > UNORDERED_LINES_MAX)
    lines.push(`  … ${unordered.length - UNORDERED_LINES_MAX} more`);
  return lines.join('\n');
}

/** One line for the whole history, e.g. `10 keys, 230 operations …: 9 linearizable, 1 not → NOT LINEARIZABLE`. */
export function summaryLine(check: HistoryCheck): string {
  const count = (verdict: Verdict): number => check.keys.filter((k) => k.verdict === verdict).length;
  const dropped = check.droppedCount > 0 ? ` (+${check.droppedCount} dropped as irrelevant)` : '';
  const took =
    check.elapsedMs < 1000 ? `${check.elapsedMs.toFixed(1)} ms` : `${(check.elapsedMs / 1000).toFixed(2)} s`;
  const keys = `${check.keys.length} ${check.keys.length === 1 ? 'key' : 'keys'}`;
  const overall =
    check.verdict === 'ok' ? 'LINEARIZABLE' : check.verdict === 'violation' ? 'NOT LINEARIZABLE' : 'UNKNOWN';
  return (
    `${check.source}: ${keys}, ${check.operationCount} operations${dropped}, ` +
    `model ${check.model}, ${took}: ${count('ok')} linearizable, ${count('violation')} not, ` +
    `${count('unknown')} unknown → ${overall}`
  );
}
