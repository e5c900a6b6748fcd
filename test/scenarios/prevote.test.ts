import { expect, test } from 'vitest';
import { type NodeId, Role } from '../../src/raft/types.js';
import { Cluster } from '../../src/sim/cluster.js';

/** Elects a leader, isolates one follower for `timeouts` election timeouts, heals, and reports. */
function isolateFollowerAndRejoin(preVote: boolean, seed: number) {
  const roles: { at: number; node: NodeId; role: string; term: number }[] = [];
  const c = new Cluster({
    seed,
    preVote,
    checkQuorum: false,
    onEvent: (e) => {
      if (e.kind === 'core' && e.event.type === 'role') roles.push({ at: e.at, ...e.event });
    },
  });
  expect(c.runUntil(() => c.leader() !== undefined, 2000)).toBe(true);
  c.runFor(100);
  const leader = c.leader()!;
  const term = c.node(leader).raw!.raft.term;
  const follower = [...c.nodes.keys()].find((id) => id !== leader)!;
  c.partition(
    [follower],
    [...c.nodes.keys()].filter((id) => id !== follower),
  );
  c.runFor(20 * 100); // twenty election timeouts alone
  const isolatedTerm = c.node(follower).raw!.raft.term;
  c.heal();
  const healedAt = c.now;
  c.runFor(500);
  return {
    leader,
    term,
    isolatedTerm,
    /** The terms in which the old leader became a follower after the heal. */
    leaderSteppedDownIn: roles
      .filter((r) => r.at >= healedAt && r.node === leader && r.role === Role.Follower)
      .map((r) => r.term),
    leaderAfter: c.leader(),
    termAfter: c.node(c.leader() ?? leader).raw!.raft.term,
    leaderStillLeads: c.node(leader).raw!.raft.role === Role.Leader,
  };
}

test('with PreVote, a node isolated for many election timeouts rejoins without raising the term or deposing the leader (§9.6)', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const r = isolateFollowerAndRejoin(true, seed);
    // Its pre-votes never won, so it never raised its term while cut off...
    expect(r.isolatedTerm, `seed=${seed}`).toBe(r.term);
    // ...and after it rejoins, the same leader leads the same term.
    expect(r.leaderStillLeads, `seed=${seed}`).toBe(true);
    expect(r.leaderAfter, `seed=${seed}`).toBe(r.leader);
    expect(r.termAfter, `seed=${seed}`).toBe(r.term);
    expect(r.leaderSteppedDownIn, `seed=${seed}`).toEqual([]);
  }
});

test('without PreVote, the same rejoining node raises the term and deposes the leader', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const r = isolateFollowerAndRejoin(false, seed);
    // Each timeout alone bumped its term...
    expect(r.isolatedTerm, `seed=${seed}`).toBeGreaterThan(r.term + 10);
    // ...and its higher term forced a new election when it came back: the old leader was deposed
    // (it became a follower in a higher term), whoever won the election after.
    expect(r.leaderSteppedDownIn.length, `seed=${seed}`).toBeGreaterThan(0);
    expect(r.leaderSteppedDownIn[0], `seed=${seed}`).toBeGreaterThan(r.term);
    expect(r.termAfter, `seed=${seed}`).toBeGreaterThan(r.term);
  }
});
