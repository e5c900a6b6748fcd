import { describe, expect, test } from 'vitest';
import { Role } from '../../src/raft/types.js';
import {
  allMessages,
  app,
  appResp,
  Cluster,
  entry,
  hardState,
  heartbeat,
  heartbeatResp,
  Solo,
  storageWith,
  vote,
  voteResp,
} from './harness.js';

/** A leader 'a' of term 2 in a three-node cluster, made by hand; its first Ready is taken. */
function leaderOfTerm2(): Solo {
  const n = new Solo({ preVote: false, storage: storageWith([], { term: 1 }) });
  n.raw.campaign();
  n.cycle();
  n.step(voteResp({ from: 'b', to: 'a', term: 2, reject: false }));
  expect(n.raft.role).toBe(Role.Leader);
  return n;
}

describe('a higher term makes the receiver a follower in that term (§5.1)', () => {
  test('a follower that receives AppendEntries of a higher term adopts the term, forgets its vote and follows the sender (§5.1)', () => {
    const n = new Solo({ id: 'b', storage: storageWith([1], { term: 1, vote: 'c' }) });
    const rd = n.step(app({ from: 'a', to: 'b', term: 3, prevIndex: 1, prevTerm: 1 }));
    expect(n.raft.term).toBe(3);
    expect(n.raft.vote).toBe('');
    expect(n.raft.lead).toBe('a');
    expect(rd.hardState).toEqual(hardState(3, '', 0));
    expect(rd.messagesAfterPersist).toEqual([appResp({ from: 'b', to: 'a', term: 3, index: 1 })]);
  });

  test('a leader that sees a higher term in an AppendEntries reply steps down (§5.1)', () => {
    const n = leaderOfTerm2();
    n.step(appResp({ from: 'b', to: 'a', term: 5, index: 0, reject: true }));
    expect(n.raft.role).toBe(Role.Follower);
    expect(n.raft.term).toBe(5);
    expect(n.raft.lead).toBe('');
    expect(n.raft.progress.size).toBe(0);
  });

  test('a leader that sees a higher term in a heartbeat reply steps down (§5.1)', () => {
    const n = leaderOfTerm2();
    const rd = n.step(heartbeatResp({ from: 'c', to: 'a', term: 4 }));
    expect(n.raft.role).toBe(Role.Follower);
    expect(n.raft.term).toBe(4);
    expect(rd.hardState).toEqual(hardState(4, '', 0));
  });

  test('a candidate that sees a higher term in a vote rejection steps down (§5.1)', () => {
    const n = new Solo({ preVote: false });
    n.raw.campaign();
    n.cycle();
    n.step(voteResp({ from: 'b', to: 'a', term: 4, reject: true }));
    expect(n.raft.role).toBe(Role.Follower);
    expect(n.raft.term).toBe(4);
    expect(n.raft.vote).toBe('');
  });

  test('a candidate that receives AppendEntries of a higher term follows its sender (§5.1)', () => {
    const n = new Solo({ preVote: false });
    n.raw.campaign();
    n.cycle();
    n.step(app({ from: 'c', to: 'a', term: 3, prevIndex: 0, prevTerm: 0, entries: [entry(1, 3)] }));
    expect(n.raft.role).toBe(Role.Follower);
    expect(n.raft.term).toBe(3);
    expect(n.raft.lead).toBe('c');
    expect(n.raft.log.lastIndex()).toBe(1);
  });

  test('a candidate that receives AppendEntries of its own term follows the leader that won it (§5.2)', () => {
    const n = new Solo({ preVote: false });
    n.raw.campaign();
    n.cycle();
    n.step(app({ from: 'b', to: 'a', term: 1, prevIndex: 0, prevTerm: 0, entries: [entry(1, 1)] }));
    expect(n.raft.role).toBe(Role.Follower);
    expect(n.raft.term).toBe(1);
    expect(n.raft.vote).toBe('a');
    expect(n.raft.lead).toBe('b');
  });

  test('a PreVote request of a higher term does not raise the receiver term (§5.1, thesis §9.6)', () => {
    // §9.6: a PreVote request carries the term its sender would campaign in; nobody reached it yet.
    const n = new Solo({ id: 'b', storage: storageWith([1], { term: 2, vote: 'c' }) });
    const rd = n.step(vote({ pre: true, from: 'a', to: 'b', term: 3, lastIndex: 1, lastTerm: 1 }));
    expect(n.raft.term).toBe(2);
    expect(n.raft.vote).toBe('c');
    expect(rd.hardState).toBeUndefined();
    expect(rd.messagesAfterPersist).toEqual([
      voteResp({ pre: true, from: 'b', to: 'a', term: 3, reject: false }),
    ]);
  });

  test('a granted PreVote reply does not raise the pre-candidate term (thesis §9.6)', () => {
    const n = new Solo({ voters: ['a', 'b', 'c', 'd', 'e'] });
    n.raw.campaign();
    n.cycle();
    expect(n.raft.role).toBe(Role.PreCandidate);
    n.step(voteResp({ pre: true, from: 'b', to: 'a', term: 1, reject: false }));
    expect(n.raft.role).toBe(Role.PreCandidate);
    expect(n.raft.term).toBe(0);
    expect(n.raft.votes.get('b')).toBe(true);
  });

  test('a rejected PreVote reply of a higher term makes the pre-candidate a follower in that term (§5.1)', () => {
    const n = new Solo();
    n.raw.campaign();
    n.cycle();
    n.step(voteResp({ pre: true, from: 'b', to: 'a', term: 5, reject: true }));
    expect(n.raft.role).toBe(Role.Follower);
    expect(n.raft.term).toBe(5);
  });
});

describe('a request of a lower term is answered with the current term (§5.1)', () => {
  const stale = { from: 'a', to: 'b', term: 2 } as const;
  const follower = (): Solo => {
    const n = new Solo({ id: 'b', storage: storageWith([1, 3], { term: 3 }) });
    n.step(heartbeat({ from: 'c', to: 'b', term: 3 }));
    return n;
  };

  test('a lower-term AppendEntries is rejected with our term and changes nothing (§5.1)', () => {
    const n = follower();
    const rd = n.step(app({ ...stale, prevIndex: 1, prevTerm: 1, entries: [entry(2, 2)], commit: 2 }));
    expect(rd.messagesAfterPersist).toEqual([
      appResp({ from: 'b', to: 'a', term: 3, index: 1, reject: true, hintIndex: 0, hintTerm: 0 }),
    ]);
    expect(n.raft.term).toBe(3);
    expect(n.raft.lead).toBe('c');
    expect(n.raft.log.term(n.raft.log.lastIndex())).toBe(3);
    expect(n.raft.log.commit).toBe(0);
  });

  test('a lower-term vote request is rejected with our term (§5.1)', () => {
    const n = follower();
    const rd = n.step(vote({ ...stale, lastIndex: 9, lastTerm: 3 }));
    expect(rd.messagesAfterPersist).toEqual([voteResp({ from: 'b', to: 'a', term: 3, reject: true })]);
    expect(n.raft.vote).toBe('');
  });

  test('a lower-term PreVote request is rejected with our term (§5.1, thesis §9.6)', () => {
    const n = follower();
    const rd = n.step(vote({ ...stale, pre: true, lastIndex: 9, lastTerm: 3 }));
    expect(rd.messagesAfterPersist).toEqual([
      voteResp({ pre: true, from: 'b', to: 'a', term: 3, reject: true }),
    ]);
  });

  test('a lower-term heartbeat is answered with our term and does not move commit or leader (§5.1)', () => {
    const n = follower();
    const rd = n.step(heartbeat({ ...stale, commit: 2 }));
    expect(allMessages(rd)).toEqual([heartbeatResp({ from: 'b', to: 'a', term: 3 })]);
    expect(n.raft.lead).toBe('c');
    expect(n.raft.log.commit).toBe(0);
  });

  test('a deposed leader steps down when a follower answers its stale heartbeat (§5.1)', () => {
    const c = new Cluster({ config: { preVote: false, checkQuorum: false } });
    c.elect('a');
    c.isolate('a');
    c.elect('b');
    expect(c.raft('b').role).toBe(Role.Leader);
    expect(c.raft('a').role).toBe(Role.Leader);
    c.heal();
    c.tick('a', 1);
    expect(c.raft('a').role).toBe(Role.Follower);
    expect(c.raft('a').term).toBe(2);
    c.tick('b', 1);
    expect(c.raft('a').lead).toBe('b');
  });
});

describe('stale replies are dropped (§5.1)', () => {
  test('a leader ignores an AppendEntries reply of an older term (§5.1)', () => {
    const n = leaderOfTerm2();
    const before = { ...n.raft.progress.get('c')! };
    const rd = n.step(appResp({ from: 'c', to: 'a', term: 1, index: 1 }));
    expect(allMessages(rd)).toEqual([]);
    expect(n.raft.progress.get('c')!.match).toBe(before.match);
    expect(n.raft.progress.get('c')!.recentActive).toBe(false);
    expect(n.raft.role).toBe(Role.Leader);
  });

  test('a candidate does not count a vote granted in an older term (§5.1)', () => {
    const n = new Solo({ preVote: false, storage: storageWith([], { term: 1 }) });
    n.raw.campaign();
    n.cycle();
    const rd = n.step(voteResp({ from: 'b', to: 'a', term: 1, reject: false }));
    expect(n.raft.role).toBe(Role.Candidate);
    expect(n.raft.votes.has('b')).toBe(false);
    expect(allMessages(rd)).toEqual([]);
  });
});
