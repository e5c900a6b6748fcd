import { expect, test } from 'vitest';
import { SimulationFailure } from '../../src/sim/cluster.js';
import {
  describeMembershipCounts,
  describeMembershipDetail,
  type MembershipCounts,
  sumMembershipCounts,
} from '../../src/sim/membership-nemesis.js';
import { randomRun } from '../../src/sim/random-run.js';

// Enough seeds to reach every kind of change under faults within CI's budget; more with
// FLOTILLA_SIM_MEMBERSHIP_SEEDS (or `npm run sim -- --membership --seeds N`).
const SEEDS = Number(process.env.FLOTILLA_SIM_MEMBERSHIP_SEEDS ?? 300);
const FROM = Number(process.env.FLOTILLA_SIM_FROM ?? 1);

test(`randomized membership changes and leadership transfers under partitions, loss, crashes and clock drift keep every safety property and a linearizable client history, and removed nodes never disrupt the converged cluster (${SEEDS} seeds)`, () => {
  const failures: string[] = [];
  const counts: MembershipCounts[] = [];
  let snapshots = 0;
  let ops = 0;
  for (let seed = FROM; seed < FROM + SEEDS; seed++) {
    try {
      const r = randomRun(seed, { membership: true });
      counts.push(r.membership!);
      snapshots += r.snapshotsInstalled;
      ops += r.opsChecked;
    } catch (err) {
      if (!(err instanceof SimulationFailure)) throw err;
      failures.push(err.message);
      console.error(
        `seed=${seed} FAILED (replay: npm run sim -- --seed ${seed} --membership)\n${err.message}`,
      );
    }
  }
  const sum = sumMembershipCounts(counts);
  console.log(
    `seeds ${FROM}..${FROM + SEEDS - 1}: ${counts.length} passed, ${failures.length} failed\n` +
      `${describeMembershipCounts(sum)}\n${describeMembershipDetail(sum)}\n` +
      `${ops} client operations checked, ${snapshots} snapshots installed`,
  );
  expect(failures).toEqual([]);
  // Every kind of change was committed somewhere, transfers completed, refusals were met.
  for (const [kind, n] of Object.entries(sum.committed)) {
    if (kind !== 'transfer') expect(n, `${kind} committed`).toBeGreaterThan(0);
  }
  expect(sum.transfersCompleted).toBeGreaterThan(0);
  expect(sum.refused.ERR_CONF_CHANGE_IN_PROGRESS ?? 0).toBeGreaterThan(0);
  expect(snapshots).toBeGreaterThan(0);
});
