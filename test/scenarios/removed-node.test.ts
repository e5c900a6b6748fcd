// Thesis §4.2.3: a server removed from the configuration must not disrupt the cluster it left.
// test/raft/membership-change.test.ts checks the core alone for a few ticks; this plays it in the
// simulator (real network delays, disks, the safety checker after every event) over 50 election
// timeouts, for a removed node that never heard of the change and for one that holds the joint
// entry removing it, and with each of PreVote and CheckQuorum alone.
import { describe, expect, test } from 'vitest';
import { runRemovedNodeScenario } from '../../src/sim/membership-scenario.js';

const SEEDS = [1, 2, 3, 4, 5];

describe('a voter removed from a 3-node cluster, then cut off from the leader, keeps timing out (thesis §4.2.3)', () => {
  for (const learns of [false, true]) {
    const how = learns ? 'it holds the joint entry that removes it' : 'it never heard of the change';
    test(`with PreVote and CheckQuorum the leader keeps its term for 50 election timeouts and writes still commit (${how})`, () => {
      for (const seed of SEEDS) {
        const r = runRemovedNodeScenario({ seed, preVote: true, checkQuorum: true, learns });
        const at = `seed=${seed}`;
        expect(r.removedHoldsJoint, at).toBe(learns);
        // It did keep timing out: every one of its elections started and failed.
        expect(r.campaigns, at).toBeGreaterThan(20);
        // §9.6: its pre-votes never won, so it never even raised its own term...
        expect(r.removedTermAfter, at).toBe(r.removedTerm);
        // ...and the cluster went on under the same leader, in the same term.
        expect(r.leaderAfter, at).toBe(r.leader);
        expect(r.termAfter, at).toBe(r.term);
        expect(r.writeCommitted, at).toBe(true);
      }
    });
  }

  test('PreVote alone, and CheckQuorum alone, each keep the leader in its term', () => {
    for (const seed of SEEDS) {
      for (const learns of [false, true]) {
        // Peers that hear from the leader refuse its pre-votes (§9.6)...
        const pre = runRemovedNodeScenario({ seed, preVote: true, checkQuorum: false, learns });
        expect(pre.termAfter, `seed=${seed} PreVote`).toBe(pre.term);
        expect(pre.leaderAfter, `seed=${seed} PreVote`).toBe(pre.leader);
        // ...or ignore its vote requests, although their terms keep rising (§4.2.3).
        const cq = runRemovedNodeScenario({ seed, preVote: false, checkQuorum: true, learns });
        expect(cq.removedTermAfter, `seed=${seed} CheckQuorum`).toBeGreaterThan(cq.removedTerm + 10);
        expect(cq.termAfter, `seed=${seed} CheckQuorum`).toBe(cq.term);
        expect(cq.leaderAfter, `seed=${seed} CheckQuorum`).toBe(cq.leader);
      }
    }
  });

  test('without PreVote and CheckQuorum the removed node raises the term again and again', () => {
    for (const seed of SEEDS) {
      const r = runRemovedNodeScenario({ seed, preVote: false, checkQuorum: false, learns: false });
      // Each of its vote requests moves the remaining voters to a higher term and unseats the leader.
      expect(r.termAfter, `seed=${seed}`).toBeGreaterThan(r.term + 10);
    }
  });
});
