import { expect, test } from 'vitest';
import { SimulationFailure } from '../../src/sim/cluster.js';
import { describeReads, type ReadCounts, sumReads } from '../../src/sim/history-check.js';
import { randomRun } from '../../src/sim/random-run.js';

// Enough seeds to cover many fault schedules while keeping CI short; more with FLOTILLA_SIM_SEEDS.
const SEEDS = Number(process.env.FLOTILLA_SIM_SEEDS ?? 400);
const FROM = Number(process.env.FLOTILLA_SIM_FROM ?? 1);

test(`randomized runs under partitions, loss, duplication, reordering, crashes and clock drift keep every safety property and a linearizable client history (${SEEDS} seeds)`, () => {
  const failures: string[] = [];
  let committed = 0;
  let acked = 0;
  let snapshots = 0;
  let ops = 0;
  const reads: ReadCounts[] = [];
  for (let seed = FROM; seed < FROM + SEEDS; seed++) {
    try {
      const r = randomRun(seed);
      committed += r.committed;
      acked += r.acked;
      snapshots += r.snapshotsInstalled;
      ops += r.opsChecked;
      reads.push(r.reads);
      // Each run ends converged: the checker saw every acknowledged write committed everywhere.
      expect(r.acked).toBeGreaterThan(0);
    } catch (err) {
      if (!(err instanceof SimulationFailure)) throw err;
      failures.push(err.message);
      console.error(`seed=${seed} FAILED (replay: npm run sim -- --seed ${seed})\n${err.message}`);
    }
  }
  const total = sumReads(reads);
  console.log(
    `seeds ${FROM}..${FROM + SEEDS - 1}: ${SEEDS - failures.length} passed; ${committed} entries committed, ${acked} writes acknowledged, ${snapshots} snapshots installed\n${describeReads(total, ops)}`,
  );
  expect(failures).toEqual([]);
  // Followers far behind were caught up by InstallSnapshot, so that path was exercised too.
  expect(snapshots).toBeGreaterThan(0);
  // Every read path was exercised and checked.
  expect(total.linearizable).toBeGreaterThan(0);
  expect(total.leaseServed).toBeGreaterThan(0);
  expect(total.lease - total.leaseServed).toBeGreaterThan(0);
  expect(total.followerReads).toBeGreaterThan(0);
  expect(total.writesUnknown).toBeGreaterThan(0);
});
