import { describe, expect, test } from 'vitest';
import { Role } from '../../src/raft/types.js';
import {
  allMessages,
  Cluster,
  FixedRng,
  hardState,
  heartbeat,
  ofType,
  Solo,
  storageWith,
  vote,
  voteResp,
} from './harness.js';

describe('PreVote (thesis §9.6)', () => {
  test('a pre-candidate keeps its term and vote: its Ready carries no hard state (thesis §9.6)', () => {
    const n = new Solo({ storage: storageWith([1, 2], { term: 2, vote: 'c' }) });
    n.raw.campaign();
    expect(n.raft.role).toBe(Role.PreCandidate);
    expect(n.raft.term).toBe(2);
    expect(n.raft.vote).toBe('c');
    const rd = n.raw.ready();
    expect(rd.hardState).toBeUndefined();
    const asks = ofType(allMessages(rd), 'pre-vote');
    expect(asks.map((m) => m.to).sort()).toEqual(['b', 'c']);
    // The request names the term the sender would campaign in, and its log's end.
    for (const m of asks) expect(m).toMatchObject({ term: 3, lastIndex: 2, lastTerm: 2 });
    expect(ofType(allMessages(rd), 'vote')).toEqual([]);
  });

  test('a pre-candidate that wins the PreVote round starts a real election at term + 1 (thesis §9.6)', () => {
    const n = new Solo({ storage: storageWith([1], { term: 1 }) });
    n.raw.campaign();
    n.cycle();
    n.raw.step(voteResp({ pre: true, from: 'b', to: 'a', term: 2, reject: false }));
    expect(n.raft.role).toBe(Role.Candidate);
    expect(n.raft.term).toBe(2);
    expect(n.raft.vote).toBe('a');
    const rd = n.raw.ready();
    expect(rd.hardState).toEqual(hardState(2, 'a', 0));
    const asks = ofType(rd.messagesAfterPersist, 'vote');
    expect(asks.map((m) => m.to).sort()).toEqual(['b', 'c']);
    for (const m of asks) expect(m).toMatchObject({ term: 2, lastIndex: 1, lastTerm: 1 });
  });

  test('in a cluster the roles go pre-candidate → candidate → leader, and the term rises once (thesis §9.6)', () => {
    const c = new Cluster();
    c.elect('a');
    const roles = c.trace.filter((e) => e.type === 'role' && e.node === 'a').slice(1);
    expect(roles).toEqual([
      { type: 'role', node: 'a', role: Role.PreCandidate, term: 0 },
      { type: 'role', node: 'a', role: Role.Candidate, term: 1 },
      { type: 'role', node: 'a', role: Role.Leader, term: 1 },
    ]);
    for (const id of c.ids) expect(c.raft(id).term).toBe(1);
  });

  test('a pre-candidate that a majority rejects returns to follower without raising its term (thesis §9.6)', () => {
    const n = new Solo({ storage: storageWith([1], { term: 1 }) });
    n.raw.campaign();
    n.cycle();
    n.step(voteResp({ pre: true, from: 'b', to: 'a', term: 1, reject: true }));
    expect(n.raft.role).toBe(Role.PreCandidate);
    n.step(voteResp({ pre: true, from: 'c', to: 'a', term: 1, reject: true }));
    expect(n.raft.role).toBe(Role.Follower);
    expect(n.raft.term).toBe(1);
  });

  test('a peer that heard from a leader within the election timeout rejects a PreVote (thesis §9.6)', () => {
    const n = new Solo({ id: 'b', electionTicks: 10, rng: new FixedRng(9) });
    n.step(heartbeat({ from: 'a', to: 'b', term: 1 }));
    for (let k = 0; k < 9; k++) n.raw.tick();
    const rd = n.step(vote({ pre: true, from: 'c', to: 'b', term: 2, lastIndex: 0, lastTerm: 0 }));
    expect(rd.messagesAfterPersist).toEqual([
      voteResp({ pre: true, from: 'b', to: 'c', term: 1, reject: true }),
    ]);
    expect(n.raft.term).toBe(1);
    expect(n.raft.lead).toBe('a');
  });

  test('a peer that has not heard from a leader for electionTicks grants an up-to-date PreVote (thesis §9.6)', () => {
    // Randomized timeout 19: after 10 silent ticks b still follows a but its lease has run out.
    const n = new Solo({ id: 'b', electionTicks: 10, rng: new FixedRng(9) });
    n.step(heartbeat({ from: 'a', to: 'b', term: 1 }));
    for (let k = 0; k < 10; k++) n.raw.tick();
    expect(n.raft.role).toBe(Role.Follower);
    const rd = n.step(vote({ pre: true, from: 'c', to: 'b', term: 2, lastIndex: 0, lastTerm: 0 }));
    expect(rd.messagesAfterPersist).toEqual([
      voteResp({ pre: true, from: 'b', to: 'c', term: 2, reject: false }),
    ]);
    // Granting a PreVote records nothing: no term, no vote.
    expect(rd.hardState).toBeUndefined();
    expect(n.raft.term).toBe(1);
    expect(n.raft.vote).toBe('');
  });

  test('a peer that never heard from a leader grants an up-to-date PreVote at once (thesis §9.6)', () => {
    const n = new Solo({ id: 'b' });
    const rd = n.step(vote({ pre: true, from: 'c', to: 'b', term: 1, lastIndex: 0, lastTerm: 0 }));
    expect(rd.messagesAfterPersist).toEqual([
      voteResp({ pre: true, from: 'b', to: 'c', term: 1, reject: false }),
    ]);
  });

  test('a PreVote with a stale log is rejected (thesis §9.6, §5.4.1)', () => {
    const n = new Solo({ id: 'b', storage: storageWith([1, 2], { term: 2 }) });
    const rd = n.step(vote({ pre: true, from: 'c', to: 'b', term: 3, lastIndex: 5, lastTerm: 1 }));
    expect(rd.messagesAfterPersist).toEqual([
      voteResp({ pre: true, from: 'b', to: 'c', term: 2, reject: true }),
    ]);
    expect(n.raft.term).toBe(2);
  });

  test('a PreVote that would not raise the receiver term is rejected (thesis §9.6)', () => {
    const n = new Solo({ id: 'b', storage: storageWith([1], { term: 3 }) });
    const rd = n.step(vote({ pre: true, from: 'c', to: 'b', term: 3, lastIndex: 1, lastTerm: 1 }));
    expect(rd.messagesAfterPersist).toEqual([
      voteResp({ pre: true, from: 'b', to: 'c', term: 3, reject: true }),
    ]);
  });

  test('a node cut off from the cluster keeps its term, and rejoins without deposing the leader (thesis §9.6)', () => {
    const c = new Cluster({ config: { electionTicks: 10 } });
    c.elect('a');
    c.isolate('c');
    c.tickAll(60);
    expect(c.raft('c').term).toBe(1);
    expect(c.raft('c').role).not.toBe(Role.Candidate);
    c.heal();
    c.tickAll(30);
    expect(c.leaders()).toEqual(['a']);
    for (const id of c.ids) expect(c.raft(id).term).toBe(1);
    expect(c.raft('c').lead).toBe('a');
  });
});
