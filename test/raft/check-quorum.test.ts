import { describe, expect, test } from 'vitest';
import { Role } from '../../src/raft/types.js';
import { allMessages, Cluster, FixedRng, hardState, vote, voteResp } from './harness.js';

const dropAll = () => true;

describe('CheckQuorum (thesis §6.2)', () => {
  test('a leader that hears from no majority within an election timeout steps down (thesis §6.2)', () => {
    const c = new Cluster({ config: { electionTicks: 10 } });
    c.elect('a');
    c.tick('a', 9, { drop: dropAll });
    expect(c.raft('a').role).toBe(Role.Leader);
    c.tick('a', 11, { drop: dropAll });
    const a = c.raft('a');
    expect(a.role).toBe(Role.Follower);
    expect(a.term).toBe(1);
    expect(a.lead).toBe('');
  });

  test('with checkQuorum off, a leader that hears from no one stays leader (thesis §6.2)', () => {
    const c = new Cluster({ config: { electionTicks: 10, checkQuorum: false } });
    c.elect('a');
    c.tick('a', 50, { drop: dropAll });
    expect(c.raft('a').role).toBe(Role.Leader);
  });

  test('a leader that hears from one follower of two stays leader (thesis §6.2)', () => {
    const c = new Cluster({ config: { electionTicks: 10 } });
    c.elect('a');
    c.isolate('c');
    c.tickAll(50);
    expect(c.raft('a').role).toBe(Role.Leader);
    expect(c.raft('a').term).toBe(1);
    expect(c.raft('b').lead).toBe('a');
  });

  test('a leader cut off in a minority steps down while the majority elects a new leader (thesis §6.2)', () => {
    const c = new Cluster({ config: { electionTicks: 10 } });
    c.elect('a');
    c.isolate('a');
    c.tickAll(40);
    // Stepped down (and, cut off, now campaigns in vain as a pre-candidate without raising its term).
    expect(c.raft('a').role).not.toBe(Role.Leader);
    expect(c.raft('a').term).toBe(1);
    const others = c.leaders();
    expect(others).toHaveLength(1);
    expect(others[0]).not.toBe('a');
    expect(c.raft(others[0]!).term).toBe(2);
  });

  test('a one-node leader never steps down: it is its own majority (thesis §6.2)', () => {
    const c = new Cluster({ size: 1, config: { electionTicks: 10 } });
    c.elect('a');
    c.tickAll(50);
    expect(c.raft('a').role).toBe(Role.Leader);
  });
});

describe('a server that hears from a live leader ignores vote requests (thesis §4.2.3)', () => {
  const ask = vote({ from: 'c', to: 'b', term: 2, lastIndex: 1, lastTerm: 1 });

  test('with checkQuorum on, a follower that heard from its leader recently ignores a higher-term vote request (thesis §4.2.3)', () => {
    const c = new Cluster();
    c.elect('a');
    c.clearQueue();
    c.node('b').step(ask);
    const b = c.raft('b');
    expect(b.term).toBe(1);
    expect(b.vote).toBe('a');
    expect(b.lead).toBe('a');
    expect(c.node('b').hasReady()).toBe(false);
  });

  test('with checkQuorum off, the same request raises the term and is granted (§5.1, §5.2)', () => {
    const c = new Cluster({ config: { checkQuorum: false } });
    c.elect('a');
    c.clearQueue();
    c.node('b').step(ask);
    const rd = c.process('b')!;
    expect(rd.hardState).toEqual(hardState(2, 'c', 1));
    expect(rd.messagesAfterPersist).toEqual([voteResp({ from: 'b', to: 'c', term: 2, reject: false })]);
  });

  test('once the follower has not heard from its leader for electionTicks, the request is honored (thesis §4.2.3)', () => {
    // b's randomized timeout is 19 ticks: after 10 silent ticks it still follows a, outside the lease.
    const c = new Cluster({ config: { electionTicks: 10 }, node: { b: { rng: new FixedRng(9) } } });
    c.elect('a');
    c.tick('b', 10);
    expect(c.raft('b').role).toBe(Role.Follower);
    expect(c.raft('b').lead).toBe('a');
    c.clearQueue();
    c.node('b').step(ask);
    expect(c.raft('b').term).toBe(2);
    expect(c.raft('b').vote).toBe('c');
  });

  test('a leader with checkQuorum on ignores a higher-term vote request (thesis §4.2.3)', () => {
    const c = new Cluster();
    c.elect('a');
    c.clearQueue();
    c.node('a').step(vote({ from: 'c', to: 'a', term: 5, lastIndex: 9, lastTerm: 1 }));
    expect(c.raft('a').role).toBe(Role.Leader);
    expect(c.raft('a').term).toBe(1);
    const rd = c.process('a');
    expect(rd === undefined ? [] : allMessages(rd)).toEqual([]);
  });
});
