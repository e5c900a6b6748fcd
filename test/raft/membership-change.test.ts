// Membership changes by joint consensus (thesis §4.3), learners, removing the leader.
import { describe, expect, test } from 'vitest';
import { ConfChangeError } from '../../src/raft/errors.js';
import { Role } from '../../src/raft/types.js';
import { Cluster } from './harness.js';

const bytes = (s: string) => new TextEncoder().encode(s);

/** a leads a cluster of `size` nodes whose first `voters` are the voters; its no-op is committed. */
function cluster(size: number, voters: number) {
  const c = new Cluster({ size });
  const ids = c.ids;
  // Nodes beyond `voters` start as if they were not members (they join by the change).
  for (const id of ids)
    c.raft(id).log.configs.reset({ voters: ids.slice(0, voters), outgoing: [], learners: [] }, 0 as never);
  c.elect('a');
  expect(c.raft('a').role).toBe(Role.Leader);
  return c;
}

describe('joint consensus (thesis §4.3)', () => {
  test('adding a voter goes through C(old,new), then C(new); the new voter gets the whole log', () => {
    const c = cluster(4, 3);
    c.node('a').propose([bytes('x')]);
    c.deliverAll();
    c.node('a').proposeConfChange({ voters: ['a', 'b', 'c', 'd'], learners: [] });
    expect(c.raft('a').membership.outgoing).toEqual(['a', 'b', 'c']); // in force when appended (§4.1)
    c.deliverAll();
    const m = c.raft('a').membership;
    expect(m).toEqual({ voters: ['a', 'b', 'c', 'd'], outgoing: [], learners: [] });
    expect(c.raft('d').membership).toEqual(m);
    expect(c.raft('d').log.commit).toBe(c.raft('a').log.commit);
  });

  test('in the joint configuration an entry commits only with majorities of both old and new voters', () => {
    const c = cluster(5, 3);
    c.isolate('d');
    c.isolate('e');
    // Replace b and c by d and e: the new half {a, d, e} has only a.
    c.node('a').proposeConfChange({ voters: ['a', 'd', 'e'], learners: [] });
    c.deliverAll();
    const a = c.raft('a');
    expect(a.membership.outgoing).toEqual(['a', 'b', 'c']);
    const stuck = a.log.commit;
    expect(a.log.lastIndex()).toBeGreaterThan(stuck); // the joint entry is on a, b, c but not committed
    c.heal();
    c.tick('a', 3);
    c.deliverAll();
    expect(a.membership).toEqual({ voters: ['a', 'd', 'e'], outgoing: [], learners: [] });
    expect(a.log.commit).toBe(a.log.lastIndex());
  });

  test('a second change while one is in flight is refused, and so is an invalid one', () => {
    const c = cluster(4, 3);
    c.isolate('b');
    c.isolate('c');
    c.node('a').proposeConfChange({ voters: ['a', 'b', 'c', 'd'], learners: [] });
    expect(() => c.node('a').proposeConfChange({ voters: ['a', 'b'], learners: [] })).toThrow(
      ConfChangeError,
    );
    c.heal();
    c.tick('a', 3);
    const bad = () => c.node('a').proposeConfChange({ voters: ['a'], learners: ['a'] });
    expect(bad).toThrow(/once/);
    expect(() => c.node('a').proposeConfChange({ voters: [], learners: [] })).toThrow(/at least one voter/);
  });

  test('a removed follower receives C(new) and its commit, so it knows it was removed; then the leader forgets it', () => {
    const c = cluster(3, 3);
    c.node('a').proposeConfChange({ voters: ['a', 'b'], learners: [] });
    c.deliverAll();
    const a = c.raft('a');
    expect(a.membership).toEqual({ voters: ['a', 'b'], outgoing: [], learners: [] });
    // c holds C(new), committed: it is no voter of anything it knows, and never campaigns.
    const removed = c.raft('c');
    expect(removed.membership.voters).toEqual(['a', 'b']);
    expect(removed.log.commit).toBe(a.log.commit);
    expect([...a.progress.keys()].sort()).toEqual(['a', 'b']);
    const term = removed.term;
    c.tick('c', 50);
    expect(removed.term).toBe(term);
    expect(removed.role).toBe(Role.Follower);
  });

  test('a removed leader leads until C(new) commits, then steps down; the rest elect a leader', () => {
    const c = cluster(3, 3);
    c.node('a').proposeConfChange({ voters: ['b', 'c'], learners: [] });
    c.deliverAll();
    expect(c.raft('a').role).toBe(Role.Follower);
    expect(c.raft('b').membership.voters).toEqual(['b', 'c']);
    c.tickAll(25);
    const leaders = c.leaders();
    expect(leaders).toHaveLength(1);
    expect(leaders[0]).not.toBe('a');
  });

  test('a removed leader whose last entry no voter holds yet transfers to the most up-to-date voter, then steps down', () => {
    // One entry per AppendEntries, so that C(new) and the entry after it travel apart.
    const c = new Cluster({ size: 3, config: { entryBytesMax: 1 } });
    c.elect('a');
    c.node('a').propose([bytes('x')]);
    c.deliverAll();
    const a = c.raft('a');
    const term = a.term;
    const joint = c.node('a').proposeConfChange({ voters: ['b', 'c'], learners: [] });
    const cNew = joint + 1;
    // The joint entry commits and a appends C(new); the acks for C(new) are lost.
    c.deliverAll({ drop: (m) => m.type === 'app-resp' && m.index >= cNew });
    expect(a.membership.outgoing).toEqual([]);
    expect(a.log.commit).toBe(joint);
    // An entry after C(new) that does not reach b or c for now.
    c.node('a').propose([bytes('after')]);
    const holdAfter = (m: { type: string; entries?: readonly { index: number }[] }) =>
      m.type === 'app' && (m.entries ?? []).some((e) => e.index > cNew);
    for (let k = 0; k < 3 && a.log.commit < cNew; k++) c.tick('a', 1, { drop: holdAfter });
    // C(new) committed while no voter held a's last entry: a hands over instead of leaving.
    expect(a.log.commit).toBeGreaterThanOrEqual(cNew);
    expect(a.role).toBe(Role.Leader);
    expect(['b', 'c']).toContain(a.leadTransferee);
    expect(() => c.node('a').propose([bytes('refused')])).toThrow(/transferred/);
    // Once the transferee has the last entry: TimeoutNow, a steps down, the transferee leads.
    for (let k = 0; k < 3 && c.leaders()[0] === 'a'; k++) c.tick('a', 1);
    expect(c.leaders()).toEqual([expect.stringMatching(/^[bc]$/)]);
    expect(c.raft(c.leaders()[0]!).term).toBe(term + 1);
    expect(a.role).toBe(Role.Follower);
  });

  test('the removed leader hands over with TimeoutNow: a new leader without waiting for a timeout', () => {
    const c = cluster(3, 3);
    const term = c.raft('a').term;
    c.node('a').proposeConfChange({ voters: ['b', 'c'], learners: [] });
    c.deliverAll(); // no ticks at all
    const leaders = c.leaders();
    expect(leaders).toHaveLength(1);
    expect(['b', 'c']).toContain(leaders[0]);
    expect(c.raft(leaders[0]!).term).toBe(term + 1);
  });

  test('a learner receives the log but never counts toward a quorum and never campaigns', () => {
    const c = cluster(4, 3);
    c.node('a').proposeConfChange({ voters: ['a', 'b', 'c'], learners: ['d'] });
    c.deliverAll();
    expect(c.raft('d').membership.learners).toEqual(['d']);
    c.isolate('b');
    c.isolate('c');
    const a = c.raft('a');
    c.node('a').propose([bytes('y')]);
    c.deliverAll();
    expect(c.raft('d').log.lastIndex()).toBe(a.log.lastIndex()); // replicated to the learner...
    expect(a.log.commit).toBeLessThan(a.log.lastIndex()); // ...which does not make a majority
    c.tick('d', 50);
    expect(c.raft('d').role).toBe(Role.Follower);
  });

  test('a removed node that never heard of its removal does not disrupt the cluster (PreVote + CheckQuorum)', () => {
    const c = cluster(3, 3);
    c.isolate('c');
    c.node('a').proposeConfChange({ voters: ['a', 'b'], learners: [] });
    c.tick('a', 3);
    const term = c.raft('a').term;
    expect(c.raft('a').membership.voters).toEqual(['a', 'b']);
    c.tick('c', 40); // c still believes it is a voter and campaigns, alone
    c.heal();
    c.tickAll(30);
    expect(c.raft('a').role).toBe(Role.Leader);
    expect(c.raft('a').term).toBe(term);
  });
});

describe('peer addresses travel with the configuration', () => {
  test('a change carries every member address into C(old,new) and C(new); a removed member’s address goes', () => {
    const c = cluster(4, 3);
    const addresses = { a: 'h:1', b: 'h:2', c: 'h:3', d: 'h:4' };
    c.node('a').proposeConfChange({ voters: ['a', 'b', 'c', 'd'], learners: [], addresses });
    expect(c.raft('a').membership.addresses).toEqual(addresses); // the joint entry has them
    c.deliverAll();
    expect(c.raft('d').membership).toEqual({
      voters: ['a', 'b', 'c', 'd'],
      outgoing: [],
      learners: [],
      addresses,
    });
    // A change that names no addresses keeps the ones in force, less the removed member's.
    c.node('a').proposeConfChange({ voters: ['a', 'b', 'c'], learners: [] });
    c.deliverAll();
    expect(c.raft('b').membership.addresses).toEqual({ a: 'h:1', b: 'h:2', c: 'h:3' });
  });

  test('a node started with no voters stays silent until the log tells it the configuration', () => {
    const c = cluster(4, 3);
    c.raft('d').log.configs.reset({ voters: [], outgoing: [], learners: [] }, 0 as never);
    const before = c.raft('d').term;
    c.tick('d', 50);
    expect(c.raft('d').role).toBe(Role.Follower); // not a voter of anything: never campaigns
    expect(c.raft('d').term).toBe(before);
    c.node('a').proposeConfChange({ voters: ['a', 'b', 'c'], learners: ['d'], addresses: { d: 'h:4' } });
    c.deliverAll();
    expect(c.raft('d').membership.learners).toEqual(['d']);
    expect(c.raft('d').membership.addresses).toEqual({ d: 'h:4' });
    expect(c.raft('d').log.commit).toBe(c.raft('a').log.commit);
  });
});
