import { describe, expect, test } from 'vitest';
import { Role } from '../../src/raft/types.js';
import { hardState, heartbeat, Solo, storageWith, vote, voteResp } from './harness.js';

describe('at most one vote per term (§5.2)', () => {
  test('a follower that voted in a term rejects a second candidate of that term (§5.2)', () => {
    const n = new Solo({ id: 'b' });
    n.step(vote({ from: 'a', to: 'b', term: 1, lastIndex: 0, lastTerm: 0 }));
    expect(n.raft.vote).toBe('a');
    const rd = n.step(vote({ from: 'c', to: 'b', term: 1, lastIndex: 5, lastTerm: 1 }));
    expect(rd.messagesAfterPersist).toEqual([voteResp({ from: 'b', to: 'c', term: 1, reject: true })]);
    expect(n.raft.vote).toBe('a');
    expect(rd.hardState).toBeUndefined();
  });

  test('a follower grants its vote again to the candidate it already voted for (§5.2)', () => {
    // The first reply may have been lost; granting again cannot make a second leader.
    const n = new Solo({ id: 'b' });
    n.step(vote({ from: 'a', to: 'b', term: 1, lastIndex: 0, lastTerm: 0 }));
    const rd = n.step(vote({ from: 'a', to: 'b', term: 1, lastIndex: 0, lastTerm: 0 }));
    expect(rd.messagesAfterPersist).toEqual([voteResp({ from: 'b', to: 'a', term: 1, reject: false })]);
  });

  test('a vote survives a restart: the restarted voter still rejects a second candidate (§5.2)', () => {
    const n = new Solo({ id: 'b' });
    n.step(vote({ from: 'a', to: 'b', term: 1, lastIndex: 0, lastTerm: 0 }));
    const restarted = new Solo({ id: 'b', storage: n.storage });
    expect(restarted.raft.vote).toBe('a');
    const rd = restarted.step(vote({ from: 'c', to: 'b', term: 1, lastIndex: 0, lastTerm: 0 }));
    expect(rd.messagesAfterPersist).toEqual([voteResp({ from: 'b', to: 'c', term: 1, reject: true })]);
  });

  test('a vote reply is sent only after the vote is persisted (§5.2)', () => {
    const n = new Solo({ id: 'b', storage: storageWith([1], { term: 1 }) });
    n.raw.step(vote({ from: 'a', to: 'b', term: 2, lastIndex: 1, lastTerm: 1 }));
    const rd = n.raw.ready();
    expect(rd.hardState).toEqual(hardState(2, 'a', 0));
    expect(rd.messages).toEqual([]);
    expect(rd.messagesAfterPersist).toEqual([voteResp({ from: 'b', to: 'a', term: 2, reject: false })]);
  });

  test('a follower that knows the leader of its term votes for no one in that term (§5.2)', () => {
    const n = new Solo({ id: 'b', checkQuorum: false });
    n.step(heartbeat({ from: 'a', to: 'b', term: 1 }));
    const rd = n.step(vote({ from: 'c', to: 'b', term: 1, lastIndex: 0, lastTerm: 0 }));
    expect(rd.messagesAfterPersist).toEqual([voteResp({ from: 'b', to: 'c', term: 1, reject: true })]);
  });

  test('a candidate rejects another candidate of its term: it voted for itself (§5.2)', () => {
    const n = new Solo({ preVote: false });
    n.raw.campaign();
    n.cycle();
    const rd = n.step(vote({ from: 'b', to: 'a', term: 1, lastIndex: 0, lastTerm: 0 }));
    expect(rd.messagesAfterPersist).toEqual([voteResp({ from: 'a', to: 'b', term: 1, reject: true })]);
    expect(n.raft.role).toBe(Role.Candidate);
  });

  test('granting a vote restarts the election timer (§5.2)', () => {
    const n = new Solo({ id: 'b' });
    n.raw.tick();
    n.raw.tick();
    expect(n.raft.electionElapsed).toBe(2);
    n.step(vote({ from: 'a', to: 'b', term: 0, lastIndex: 0, lastTerm: 0 }));
    expect(n.raft.vote).toBe('a');
    expect(n.raft.electionElapsed).toBe(0);
  });
});

describe('a vote goes only to a candidate whose log is at least as up to date (§5.4.1)', () => {
  // The voter's log ends at index 3 of term 2.
  const voterLog = [1, 1, 2];
  const cases = [
    { lastTerm: 3, lastIndex: 1, granted: true, rule: 'a higher last term wins even with a shorter log' },
    { lastTerm: 2, lastIndex: 3, granted: true, rule: 'the same last term and the same last index win' },
    { lastTerm: 2, lastIndex: 7, granted: true, rule: 'the same last term and a longer log win' },
    { lastTerm: 2, lastIndex: 2, granted: false, rule: 'the same last term and a shorter log lose' },
    { lastTerm: 1, lastIndex: 10, granted: false, rule: 'a lower last term loses even with a longer log' },
  ];
  for (const c of cases) {
    test(`${c.rule} (§5.4.1)`, () => {
      const n = new Solo({ id: 'b', storage: storageWith(voterLog, { term: 3 }) });
      const rd = n.step(vote({ from: 'a', to: 'b', term: 4, lastIndex: c.lastIndex, lastTerm: c.lastTerm }));
      expect(rd.messagesAfterPersist).toEqual([
        voteResp({ from: 'b', to: 'a', term: 4, reject: !c.granted }),
      ]);
      expect(n.raft.vote).toBe(c.granted ? 'a' : '');
      // Either way the request's term is adopted (§5.1).
      expect(rd.hardState).toEqual(hardState(4, c.granted ? 'a' : '', 0));
    });
  }

  test('a voter that rejected a stale candidate can still vote for an up-to-date one in that term (§5.4.1)', () => {
    const n = new Solo({ id: 'b', storage: storageWith([1, 1, 2], { term: 3 }) });
    n.step(vote({ from: 'a', to: 'b', term: 4, lastIndex: 2, lastTerm: 1 }));
    const rd = n.step(vote({ from: 'c', to: 'b', term: 4, lastIndex: 3, lastTerm: 2 }));
    expect(rd.messagesAfterPersist).toEqual([voteResp({ from: 'b', to: 'c', term: 4, reject: false })]);
  });
});
