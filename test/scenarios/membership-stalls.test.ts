// Two ways the core used to stall for ever after a configuration change, found by the randomized
// membership runs (test/scenarios/membership-random.test.ts) and reduced to two nodes. Both were
// liveness bugs in src/raft (no safety property broke); docs/invariants.md describes the fixes.
import { expect, test } from 'vitest';
import { directVoterAddElects, removedLeaderElects } from '../../src/sim/membership-scenario.js';

const SEEDS = [1, 2, 3, 4, 5];

test('a voter added directly, which never received the change, still lets the cluster elect a leader (a node votes for candidates its own configuration does not list)', () => {
  // {a} adds b; a crashes before b has the joint entry; a restarts and needs b's vote.
  for (const seed of SEEDS) expect(directVoterAddElects(seed), `seed=${seed}`).toBe(true);
});

test('a leader that replaced itself and crashed before C(new) reached the new voter can still get C(new) committed (thesis §4.2.2: a server outside its latest, uncommitted configuration still campaigns)', () => {
  // {a} is replaced by {b}; the joint entry commits; a crashes with C(new) that b lacks.
  for (const seed of SEEDS) expect(removedLeaderElects(seed), `seed=${seed}`).toBe(true);
});
