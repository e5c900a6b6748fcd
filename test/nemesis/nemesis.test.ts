import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { formatSummary } from './report.js';
import { DEFAULTS, replayCommand, runNemesis } from './runner.js';
import { SCENARIOS } from './scenarios.js';

// The bounded CI run of the fault-injection suite: every scenario for about 3 s of faults on one
// 3-node cluster of real processes (about a minute in all). NEMESIS_SEED=N replays a schedule.
const seed = Number(process.env.NEMESIS_SEED ?? Math.floor(Math.random() * 2 ** 31));
const DURATION_S = 27;

test('under every nemesis scenario the history is linearizable, no acknowledged write is lost and the cluster recovers', async () => {
  const out = mkdtempSync(join(tmpdir(), 'flotilla-nemesis-ci-'));
  const log: string[] = [];
  const options = {
    ...DEFAULTS,
    scenarios: SCENARIOS,
    durationS: DURATION_S,
    seed,
    out,
    recoveryS: 20,
    print: (line: string) => log.push(line),
  };
  console.log(`nemesis seed=${seed}; replay: ${replayCommand(options)}`);
  const summary = await runNemesis(options);
  const report = `${formatSummary(summary)}\nrun log:\n${log.join('\n')}`;
  expect(summary.violations, report).toEqual([]);
  expect(summary.problems, report).toEqual([]);
  expect(summary.scenarios.map((s) => s.name)).toEqual(SCENARIOS.map((s) => s.name));
  expect(summary.result).toBe('pass');
  rmSync(out, { recursive: true, force: true });
}, 180_000);
