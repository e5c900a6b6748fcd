import { describe, expect, test } from 'vitest';
import { Role } from '../../src/raft/types.js';
import { Cluster, FixedRng, hardState, Lcg, ofType, Solo, storageWith, voteResp } from './harness.js';

describe('elections (§5.2)', () => {
  test('election timeouts are drawn from [electionTicks, 2·electionTicks) with the injected rng (§5.2)', () => {
    // §5.2: randomized election timeouts make split votes rare; the core draws only from config.rng.
    const rng = new Lcg(7);
    const n = new Solo({ rng, electionTicks: 10 });
    const seen = new Set<number>();
    let draws = rng.draws;
    for (let k = 0; k < 200; k++) {
      n.raft.becomeFollower(n.raft.term, '');
      expect(rng.draws).toBe(draws + 1);
      draws = rng.draws;
      const t = n.raft.randomizedElectionTimeout;
      expect(t).toBeGreaterThanOrEqual(10);
      expect(t).toBeLessThan(20);
      seen.add(t);
    }
    // 200 draws from 10 values: every value shows up, so the timeouts really vary.
    expect(seen.size).toBe(10);
  });

  test('a follower starts an election exactly when its randomized timeout elapses (§5.2)', () => {
    // §5.2: a follower that hears nothing for an election timeout becomes a candidate.
    const n = new Solo({ rng: new FixedRng(3), electionTicks: 10, preVote: false });
    expect(n.raft.randomizedElectionTimeout).toBe(13);
    for (let k = 0; k < 12; k++) n.raw.tick();
    expect(n.raft.role).toBe(Role.Follower);
    n.raw.tick();
    expect(n.raft.role).toBe(Role.Candidate);
    expect(n.raft.term).toBe(1);
  });

  test('the same seed gives the same sequence of randomized timeouts (§5.2)', () => {
    const timeouts = (seed: number): number[] => {
      const n = new Solo({ rng: new Lcg(seed) });
      const out: number[] = [];
      for (let k = 0; k < 20; k++) {
        n.raft.becomeFollower(n.raft.term, '');
        out.push(n.raft.randomizedElectionTimeout);
      }
      return out;
    };
    expect(timeouts(42)).toEqual(timeouts(42));
    expect(timeouts(42)).not.toEqual(timeouts(43));
  });

  test('a candidate votes for itself and persists term and vote before asking (§5.2)', () => {
    // §5.2: a candidate increments its term, votes for itself and requests votes; the requests
    // promise the new term, so they wait until the hard state is durable.
    const n = new Solo({ preVote: false, storage: storageWith([1, 1, 2], { term: 2 }) });
    n.raw.campaign();
    expect(n.raft.role).toBe(Role.Candidate);
    expect(n.raft.term).toBe(3);
    expect(n.raft.vote).toBe('a');
    expect(Object.fromEntries(n.raft.votes)).toEqual({ a: true });
    const rd = n.raw.ready();
    expect(rd.hardState).toEqual(hardState(3, 'a', 0));
    expect(rd.messages).toEqual([]);
    const votes = ofType(rd.messagesAfterPersist, 'vote');
    expect(votes.map((m) => m.to).sort()).toEqual(['b', 'c']);
    for (const m of votes) {
      expect(m).toMatchObject({ from: 'a', term: 3, lastIndex: 3, lastTerm: 2 });
    }
    expect(rd.messagesAfterPersist).toHaveLength(2);
  });

  test('a candidate that receives votes from a majority becomes leader (§5.2)', () => {
    const c = new Cluster({ size: 3, config: { preVote: false } });
    c.elect('a');
    expect(c.raft('a').role).toBe(Role.Leader);
    expect(c.raft('a').term).toBe(1);
    expect(c.raft('b').lead).toBe('a');
    expect(c.raft('c').lead).toBe('a');
  });

  test('a candidate wins with a bare majority: 3 of 5, two voters unreachable (§5.2)', () => {
    const c = new Cluster({ size: 5, config: { preVote: false } });
    c.isolate('d');
    c.isolate('e');
    c.elect('a');
    expect(c.raft('a').role).toBe(Role.Leader);
    expect(Object.fromEntries(c.raft('a').votes)).toEqual({ a: true, b: true, c: true });
  });

  test('a candidate with only its own vote and one of five stays a candidate (§5.2)', () => {
    const c = new Cluster({ size: 5, config: { preVote: false } });
    for (const id of ['c', 'd', 'e']) c.isolate(id);
    c.elect('a');
    expect(c.raft('a').role).toBe(Role.Candidate);
    expect(c.raft('a').term).toBe(1);
  });

  test('a candidate that a majority rejects returns to follower in its new term (§5.2)', () => {
    // b and c hold entries of a later term, so a's log is not up to date for them (§5.4.1).
    const c = new Cluster({
      size: 3,
      config: { preVote: false },
      storage: { a: storageWith([1], { term: 2 }), b: storageWith([1, 2]), c: storageWith([1, 2]) },
    });
    c.elect('a');
    const a = c.raft('a');
    expect(a.role).toBe(Role.Follower);
    expect(a.term).toBe(3);
    expect(a.vote).toBe('a');
    expect(a.lead).toBe('');
  });

  test('one rejection of three leaves the candidate waiting; a second decides (§5.2)', () => {
    const n = new Solo({ preVote: false });
    n.raw.campaign();
    n.cycle();
    n.step(voteResp({ from: 'b', to: 'a', term: 1, reject: true }));
    expect(n.raft.role).toBe(Role.Candidate);
    n.step(voteResp({ from: 'c', to: 'a', term: 1, reject: true }));
    expect(n.raft.role).toBe(Role.Follower);
  });

  test('a duplicate vote from one voter is counted once (§5.2)', () => {
    const n = new Solo({ voters: ['a', 'b', 'c', 'd', 'e'], preVote: false });
    n.raw.campaign();
    n.cycle();
    n.step(voteResp({ from: 'b', to: 'a', term: 1, reject: false }));
    n.step(voteResp({ from: 'b', to: 'a', term: 1, reject: false }));
    expect(n.raft.role).toBe(Role.Candidate);
    n.step(voteResp({ from: 'c', to: 'a', term: 1, reject: false }));
    expect(n.raft.role).toBe(Role.Leader);
  });

  test('a vote from a node outside the configuration is not counted (§5.2)', () => {
    const n = new Solo({ preVote: false });
    n.raw.campaign();
    n.cycle();
    n.step(voteResp({ from: 'z', to: 'a', term: 1, reject: false }));
    expect(n.raft.role).toBe(Role.Candidate);
    expect(n.raft.votes.has('z')).toBe(false);
  });

  test('a one-node cluster elects itself on campaign without exchanging messages (§5.2)', () => {
    for (const preVote of [true, false]) {
      const n = new Solo({ voters: ['a'], preVote });
      n.raw.campaign();
      expect(n.raft.role).toBe(Role.Leader);
      expect(n.raft.term).toBe(1);
      const rd = n.raw.ready();
      expect(rd.messages).toEqual([]);
      expect(rd.messagesAfterPersist).toEqual([]);
      expect(rd.hardState).toEqual(hardState(1, 'a', 0));
    }
  });

  test('a one-node cluster elects itself when its election timeout elapses (§5.2)', () => {
    const n = new Solo({ voters: ['a'], rng: new FixedRng(0), electionTicks: 5 });
    for (let k = 0; k < 5; k++) n.raw.tick();
    expect(n.raft.role).toBe(Role.Leader);
    expect(allSent(n)).toEqual([]);
  });

  test('a one-node leader commits its entries only once they are persisted (§5.2, thesis §10.2.1)', () => {
    // The leader counts itself toward the quorum only after its own write is durable.
    const n = new Solo({ voters: ['a'] });
    n.raw.campaign();
    let rd = n.raw.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([1]);
    expect(n.raft.log.commit).toBe(0);
    n.storage.append(rd.entries);
    n.storage.setHardState(rd.hardState!);
    n.raw.advance();
    expect(n.raft.log.commit).toBe(1);

    const { index } = n.raw.propose([Uint8Array.of(9)]);
    expect(index).toBe(2);
    rd = n.raw.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([2]);
    expect(rd.committedEntries.map((e) => e.index)).toEqual([1]);
    expect(n.raft.log.commit).toBe(1);
    n.storage.append(rd.entries);
    n.raw.advance();
    expect(n.raft.log.commit).toBe(2);
    expect(n.cycle().committedEntries.map((e) => e.index)).toEqual([2]);
  });
});

function allSent(n: Solo): unknown[] {
  const rd = n.raw.ready();
  return [...rd.messages, ...rd.messagesAfterPersist];
}
