import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { appendModel } from '../../src/check/append-model.js';
import { checkHistory, type HistoryCheck } from '../../src/check/check-history.js';
import { parseEdnHistory } from '../../src/check/edn-history.js';
import { explainViolation } from '../../src/check/explain.js';
import { parseJepsenLog } from '../../src/check/jepsen-log.js';
import { registerModel } from '../../src/check/register-model.js';

// Real histories with known verdicts, read in place from the shared folder next to the repository
// (see its README.md); they are never copied into the repository.
const root = fileURLToPath(new URL('../../../shared/testdata/linearizability/', import.meta.url));
const present = existsSync(`${root}jepsen-etcd/expected.tsv`) && existsSync(`${root}kv-append`);
if (!present) {
  console.log(`skipping the real-history tests: ${root} is absent (it holds the shared test histories)`);
}

/** Seconds a file may take; the slowest takes well under one second. */
const SECONDS_PER_FILE_MAX = 5;
const timings: { file: string; ms: number }[] = [];

function timed(file: string, run: () => HistoryCheck): HistoryCheck {
  const started = performance.now();
  const result = run();
  const ms = performance.now() - started;
  timings.push({ file, ms });
  expect(ms, `${file} took ${ms.toFixed(0)} ms`).toBeLessThan(SECONDS_PER_FILE_MAX * 1000);
  expect(result.verdict, `${file} ran out of budget`).not.toBe('unknown');
  return result;
}

function expectedVerdicts(): [string, boolean][] {
  if (!present) return [];
  const rows = readFileSync(`${root}jepsen-etcd/expected.tsv`, 'utf8').trim().split('\n').slice(1);
  return rows.map((row) => {
    const [file, linearizable] = row.split('\t');
    return [file ?? '', linearizable === 'true'];
  });
}

describe.skipIf(!present)('real histories with known verdicts', () => {
  afterAll(() => {
    const slowest = [...timings].sort((a, b) => b.ms - a.ms).slice(0, 3);
    console.log(`slowest histories: ${slowest.map((t) => `${t.file} ${t.ms.toFixed(0)} ms`).join(', ')}`);
  });

  describe('jepsen-etcd: one compare-and-set register per file', () => {
    const verdicts = expectedVerdicts();

    test('expected.tsv lists every log file', () => {
      const logs = readdirSync(`${root}jepsen-etcd`).filter((f) => f.endsWith('.log'));
      expect(verdicts.map(([file]) => file).sort()).toEqual(logs.sort());
      expect(verdicts.some(([, ok]) => ok)).toBe(true);
      expect(verdicts.some(([, ok]) => !ok)).toBe(true);
    });

    test.each(verdicts)('%s is linearizable: %s', (file, linearizable) => {
      const text = readFileSync(`${root}jepsen-etcd/${file}`, 'utf8');
      const result = timed(file, () => checkHistory(parseJepsenLog(text, { source: file }), registerModel));
      expect(result.verdict).toBe(linearizable ? 'ok' : 'violation');
    });
  });

  describe('kv-append: get, put and append per key', () => {
    const files = present ? readdirSync(`${root}kv-append`).filter((f) => /-(ok|bad)\.txt$/.test(f)) : [];

    test('the folder holds both kinds of history', () => {
      expect(files.some((f) => f.includes('-ok'))).toBe(true);
      expect(files.some((f) => f.includes('-bad'))).toBe(true);
    });

    test.each(files)('%s', (file) => {
      const text = readFileSync(`${root}kv-append/${file}`, 'utf8');
      const result = timed(file, () => checkHistory(parseEdnHistory(text, { source: file }), appendModel));
      expect(result.keys.length).toBeGreaterThan(1);
      expect(result.verdict).toBe(file.includes('-ok') ? 'ok' : 'violation');
      for (const key of result.keys.filter((k) => k.verdict === 'violation')) {
        expect(explainViolation(key)).toMatch(
          /Nothing can come next: .* must take effect before it returned/,
        );
      }
    });
  });
});
