import { describe, expect, test } from 'vitest';
import { runReadScenario } from '../../src/sim/read-scenario.js';

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

describe('reads at a deposed leader {A} | {B, C}, after B’s side overwrote x', () => {
  for (const checkQuorum of [true, false]) {
    test(`a linearizable read at the cut-off leader fails or times out, never returning the overwritten value (CheckQuorum ${checkQuorum ? 'on' : 'off'})`, () => {
      for (const seed of SEEDS) {
        const r = runReadScenario({ seed, checkQuorum });
        expect(r.overwriteAckedAt, `seed ${seed}`).toBeGreaterThan(r.cutAt);
        // §6.4: A cannot confirm a heartbeat round with a majority, so the read is never released.
        expect(['fail', 'info'], `seed ${seed}`).toContain(r.linearizable.status);
        expect(r.check.check.verdict, `seed ${seed}: ${r.check.explanation}`).toBe('ok');
      }
    });
  }

  test('a lease read at the cut-off leader, once its lease ran out, fails or times out (thesis §6.4.1)', () => {
    for (const seed of SEEDS) {
      const r = runReadScenario({ seed });
      // Within the clock bound, B's side cannot acknowledge a write before A's lease ends.
      expect(r.leaseHeldAtOverwrite, `seed ${seed}`).toBe(false);
      expect(['fail', 'info'], `seed ${seed}`).toContain(r.lease.status);
      // While the lease held, A served lease reads without a round trip — all before the overwrite.
      const served = r.leaseReadsAtA.filter((op) => op.path === 'lease');
      expect(served.length, `seed ${seed}`).toBeGreaterThan(0);
      for (const op of served) {
        expect(op.value).toBe('old');
        expect(op.endedAt).toBeLessThan(r.overwriteAckedAt);
      }
      expect(r.check.check.verdict, `seed ${seed}: ${r.check.explanation}`).toBe('ok');
    }
  });

  test('a stale read at the cut-off leader DOES return the overwritten value, and the checker rejects it (the hazard)', () => {
    for (const seed of SEEDS) {
      const r = runReadScenario({ seed });
      expect(r.stale.status, `seed ${seed}`).toBe('ok');
      expect(r.stale.value, `seed ${seed}`).toBe('old');
      expect(r.stale.path).toBe('stale');
      // Stale reads are left out of the check by contract; put back in, this one breaks it.
      expect(r.check.check.verdict).toBe('ok');
      expect(r.checkWithStale.check.verdict, `seed ${seed}`).toBe('violation');
      expect(r.checkWithStale.explanation).toContain(`get x at ${r.oldLeader} (stale, served by stale)`);
    }
  });
});

describe('lease reads and clock drift', () => {
  // Each clock within ±bound of true time, the simulator's drift model: the worst case is A at
  // −bound and B, C at +bound. At tickMs 10 the election that must follow outlasts the lease.
  test('with every clock within ±bound of true time (A 10% slow, B and C 10% fast), no lease read is stale over 200 runs', () => {
    let servedByLease = 0;
    for (let seed = 1; seed <= 100; seed++) {
      for (const preVote of [true, false]) {
        const r = runReadScenario({ seed, preVote });
        expect(r.leaseHeldAtOverwrite, `seed ${seed} preVote ${preVote}`).toBe(false);
        expect(r.lease.status === 'ok' && r.lease.value === 'old', `seed ${seed} preVote ${preVote}`).toBe(
          false,
        );
        expect(r.check.check.verdict, `seed ${seed}: ${r.check.explanation}`).toBe('ok');
        servedByLease += r.leaseReadsAtA.filter((op) => op.path === 'lease').length;
      }
    }
    // The lease was in use, right up to its end: these are the reads the checker judged.
    expect(servedByLease).toBeGreaterThan(1000);
  });

  test('beyond the bound (A’s clock 50% slow), a lease read returns the overwritten value and the checker catches every such read', () => {
    const stale: number[] = [];
    for (let seed = 1; seed <= 20; seed++) {
      const r = runReadScenario({ seed, leaderDrift: -0.5, followerDrift: 0 });
      const staleRead = r.lease.status === 'ok' && r.lease.value === 'old';
      if (!staleRead) continue;
      stale.push(seed);
      // A believed its lease held: on its slow clock the election timeout had not passed yet.
      expect(r.leaseHeldAtOverwrite).toBe(true);
      expect(r.lease.path).toBe('lease');
      expect(r.check.check.verdict, `seed ${seed}`).toBe('violation');
      expect(r.check.explanation).toContain(`get x at ${r.oldLeader} (lease, served by lease)`);
    }
    // The test is sensitive: most runs serve the stale read, and each one is caught.
    expect(stale.length).toBeGreaterThan(10);
  });

  // A follower stops refusing votes once `electionTicks` of its ticks have passed since the last
  // heartbeat, which can be (electionTicks − 1) tick intervals after it (its first tick may come
  // right after the heartbeat): the lease is (electionTicks − 1) × tickMs × (1 − bound). With a
  // lease one tick longer, this test failed on 4 seeds in 100 (see docs/reads.md).
  test('with tickMs 100 (RaftNode’s default) and B’s and C’s clocks 10% faster than A’s, no lease read is stale', () => {
    for (let seed = 1; seed <= 12; seed++) {
      const r = runReadScenario({ seed, tickMs: 100, leaderDrift: 0, followerDrift: 0.1 });
      expect(r.leaseHeldAtOverwrite, `seed ${seed}`).toBe(false);
      expect(r.check.check.verdict, `seed ${seed}: ${r.check.explanation}`).toBe('ok');
    }
  });

  test('a lease of (electionTicks − 1) × tickMs × (1 − bound) keeps lease reads fresh at tickMs 100 with clocks within the bound', () => {
    const bound = 0.1;
    for (let seed = 1; seed <= 40; seed++) {
      // B and C run 10% faster than A: the largest rate difference the bound allows.
      const r = runReadScenario({
        seed,
        tickMs: 100,
        leaderDrift: 0,
        followerDrift: bound,
        leaseMs: (10 - 1) * 100 * (1 - bound),
      });
      expect(r.leaseHeldAtOverwrite, `seed ${seed}`).toBe(false);
      expect(r.check.check.verdict, `seed ${seed}: ${r.check.explanation}`).toBe('ok');
    }
  });
});
