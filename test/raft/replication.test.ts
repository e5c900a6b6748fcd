import { describe, expect, test } from 'vitest';
import { InvariantError } from '../../src/raft/assert.js';
import { index, Role } from '../../src/raft/types.js';
import {
  app,
  appResp,
  Cluster,
  entry,
  invariantError,
  logTerms,
  ofType,
  repeat,
  Solo,
  storageWith,
  voteResp,
} from './harness.js';

/** Follower 'b' holding entries of the given terms, current term `t`, commit `commit`. */
function follower(terms: number[], t: number, commit = 0): Solo {
  return new Solo({ id: 'b', storage: storageWith(terms, { term: t, commit }) });
}

describe('the AppendEntries consistency check (§5.3)', () => {
  test('a follower rejects AppendEntries whose prevTerm differs from its term at prevIndex (§5.3)', () => {
    const n = follower([1, 1, 2], 3);
    const rd = n.step(
      app({ from: 'a', to: 'b', term: 3, prevIndex: 3, prevTerm: 3, entries: [entry(4, 3)] }),
    );
    expect(rd.messagesAfterPersist).toEqual([
      appResp({ from: 'b', to: 'a', term: 3, index: 3, reject: true, hintTerm: 2, hintIndex: 3 }),
    ]);
    expect(logTerms(n.raft)).toEqual([1, 1, 2]);
    expect(rd.entries).toEqual([]);
  });

  test('a rejection hints the follower term at prevIndex and the first index it holds of that term (§5.3)', () => {
    const n = follower([1, 2, 2, 2, 2], 3);
    const rd = n.step(app({ from: 'a', to: 'b', term: 3, prevIndex: 4, prevTerm: 3 }));
    expect(rd.messagesAfterPersist).toEqual([
      appResp({ from: 'b', to: 'a', term: 3, index: 4, reject: true, hintTerm: 2, hintIndex: 2 }),
    ]);
  });

  test('a follower whose log ends before prevIndex hints term 0 and its last index + 1 (§5.3)', () => {
    const n = follower([1, 1, 2], 3);
    const rd = n.step(app({ from: 'a', to: 'b', term: 3, prevIndex: 7, prevTerm: 3 }));
    expect(rd.messagesAfterPersist).toEqual([
      appResp({ from: 'b', to: 'a', term: 3, index: 7, reject: true, hintTerm: 0, hintIndex: 4 }),
    ]);
  });

  test('a conflicting suffix is truncated and replaced by the leader entries (§5.3)', () => {
    const n = follower([1, 1, 2, 2], 3);
    const rd = n.step(
      app({ from: 'a', to: 'b', term: 3, prevIndex: 2, prevTerm: 1, entries: [entry(3, 3)], commit: 1 }),
    );
    expect(logTerms(n.raft)).toEqual([1, 1, 3]);
    expect(rd.entries).toEqual([entry(3, 3)]);
    expect(rd.messagesAfterPersist).toEqual([appResp({ from: 'b', to: 'a', term: 3, index: 3 })]);
    // The host replaced the stored suffix from index 3.
    expect(n.storage.allEntries().map((e) => e.term)).toEqual([1, 1, 3]);
  });

  test('only the entries from the first conflict on are replaced (§5.3)', () => {
    const n = follower([1, 1, 2, 2], 3);
    const rd = n.step(
      app({
        from: 'a',
        to: 'b',
        term: 3,
        prevIndex: 1,
        prevTerm: 1,
        entries: [entry(2, 1), entry(3, 2), entry(4, 3), entry(5, 3)],
      }),
    );
    expect(logTerms(n.raft)).toEqual([1, 1, 2, 3, 3]);
    expect(rd.entries.map((e) => e.index)).toEqual([4, 5]);
  });

  test('a duplicate or stale AppendEntries truncates nothing (§5.3)', () => {
    // The follower holds 5 entries from its leader; a delayed copy of an earlier message arrives.
    const n = follower(repeat(1, 5), 1);
    const rd = n.step(
      app({ from: 'a', to: 'b', term: 1, prevIndex: 1, prevTerm: 1, entries: [entry(2, 1), entry(3, 1)] }),
    );
    expect(logTerms(n.raft)).toEqual(repeat(1, 5));
    expect(rd.entries).toEqual([]);
    // The ack speaks only for what this message matched.
    expect(rd.messagesAfterPersist).toEqual([appResp({ from: 'b', to: 'a', term: 1, index: 3 })]);
  });

  test('an AppendEntries below the follower commit index is acknowledged at the commit index, truncating nothing (§5.3)', () => {
    const n = follower([1, 1, 1, 1], 2, 3);
    const rd = n.step(
      app({ from: 'a', to: 'b', term: 2, prevIndex: 1, prevTerm: 1, entries: [entry(2, 2)], commit: 1 }),
    );
    expect(logTerms(n.raft)).toEqual([1, 1, 1, 1]);
    expect(rd.messagesAfterPersist).toEqual([appResp({ from: 'b', to: 'a', term: 2, index: 3 })]);
    expect(n.raft.log.commit).toBe(3);
  });
});

describe('the follower commit index (§5.3, Figure 2)', () => {
  test('a follower commits min(leaderCommit, index of last new entry) (Figure 2)', () => {
    const n = follower([], 1);
    n.step(
      app({
        from: 'a',
        to: 'b',
        term: 1,
        prevIndex: 0,
        prevTerm: 0,
        entries: repeat(1, 3).map((t, k) => entry(k + 1, t)),
        commit: 2,
      }),
    );
    expect(n.raft.log.commit).toBe(2);
    n.step(
      app({ from: 'a', to: 'b', term: 1, prevIndex: 3, prevTerm: 1, entries: [entry(4, 1)], commit: 10 }),
    );
    expect(n.raft.log.commit).toBe(4);
  });

  test('entries the follower holds beyond the last new entry are not committed (Figure 2)', () => {
    // b holds 1..5 but this message only vouches for 1..2: entries 3..5 may still be replaced.
    const n = follower(repeat(1, 5), 1);
    n.step(
      app({ from: 'a', to: 'b', term: 1, prevIndex: 1, prevTerm: 1, entries: [entry(2, 1)], commit: 5 }),
    );
    expect(n.raft.log.commit).toBe(2);
  });

  test('the follower commit index never goes back (§5.3)', () => {
    const n = follower(repeat(1, 5), 1, 4);
    n.step(app({ from: 'a', to: 'b', term: 1, prevIndex: 5, prevTerm: 1, commit: 2 }));
    expect(n.raft.log.commit).toBe(4);
  });

  test('a follower commit advance is persisted in the hard state (§5.3)', () => {
    const n = follower([], 1);
    const rd = n.step(
      app({ from: 'a', to: 'b', term: 1, prevIndex: 0, prevTerm: 0, entries: [entry(1, 1)], commit: 1 }),
    );
    expect(rd.hardState?.commit).toBe(1);
    expect(rd.committedEntries).toEqual([entry(1, 1)]);
  });
});

describe('truncating a committed entry is a broken invariant (§5.4, Leader Completeness)', () => {
  test('the log refuses to truncate at or below its commit index (§5.4, Figure 3)', () => {
    const n = follower([1, 1, 1], 1, 2);
    const err = invariantError(() => n.raft.log.appendAfter(index(1), [entry(2, 2)]));
    expect(err).toBeInstanceOf(InvariantError);
    expect(err.code).toBe('ERR_INVARIANT');
    expect(err.message).toContain('truncating committed entry 2');
    expect(logTerms(n.raft)).toEqual([1, 1, 1]);
  });

  test('a malformed AppendEntries (entries not following prevIndex) is dropped without a reply (Figure 2, §5.4)', () => {
    // It claims prevIndex 2 but carries an entry for index 2: it would overwrite a committed entry.
    const n = follower([1, 1, 1], 1, 2);
    const forged = app({ from: 'a', to: 'b', term: 2, prevIndex: 2, prevTerm: 1, entries: [entry(2, 2)] });
    n.raw.step(forged);
    expect(logTerms(n.raft)).toEqual([1, 1, 1]);
    expect(n.raft.msgs).toEqual([]);
  });
});

describe('the leader uses the conflict hint to skip a whole term per round trip (§5.3)', () => {
  /** Leader 'a' of term 4 with the given log; its first Ready (AppendEntries at lastIndex) is taken. */
  function leader(terms: number[]): Solo {
    const n = new Solo({ preVote: false, storage: storageWith(terms, { term: 3 }) });
    n.raw.campaign();
    n.cycle();
    n.raw.step(voteResp({ from: 'b', to: 'a', term: 4, reject: false }));
    expect(n.raft.role).toBe(Role.Leader);
    n.cycle();
    return n;
  }

  // The leader's AppendEntries at its last index 7 was rejected by c; the hint says where to go.
  const cases = [
    {
      rule: 'when it holds the hinted term, it probes right after its last entry of that term',
      leaderLog: [1, 1, 2, 2, 2, 3, 3],
      hint: { hintTerm: 2, hintIndex: 3 }, // c: 1 1 2 2 2 2 2
      prevIndex: 5,
    },
    {
      rule: 'when it lacks the hinted term, it probes before the follower first entry of that term',
      leaderLog: [1, 1, 3, 3, 3, 3, 3],
      hint: { hintTerm: 2, hintIndex: 3 }, // c: 1 1 2 2 2 2 2
      prevIndex: 2,
    },
    {
      rule: 'when the follower log is shorter, it probes at the follower last index',
      leaderLog: [1, 1, 3, 3, 3, 3, 3],
      hint: { hintTerm: 0, hintIndex: 4 }, // c: 1 1 3
      prevIndex: 3,
    },
  ];
  for (const c of cases) {
    test(`${c.rule} (§5.3)`, () => {
      const n = leader(c.leaderLog);
      const rd = n.step(appResp({ from: 'c', to: 'a', term: 4, index: 7, reject: true, ...c.hint }));
      const probes = ofType(rd.messages, 'app').filter((m) => m.to === 'c');
      expect(probes).toHaveLength(1);
      expect(probes[0]!.prevIndex).toBe(c.prevIndex);
      expect(probes[0]!.prevTerm).toBe(n.raft.log.term(index(c.prevIndex)));
    });
  }

  test('a stale rejection (for an index the leader no longer probes) is ignored (§5.3)', () => {
    const n = leader([1, 1, 2, 2, 2]);
    n.step(appResp({ from: 'c', to: 'a', term: 4, index: 5, reject: true, hintTerm: 0, hintIndex: 4 }));
    const rd = n.step(
      appResp({ from: 'c', to: 'a', term: 4, index: 5, reject: true, hintTerm: 0, hintIndex: 1 }),
    );
    expect(rd.messages).toEqual([]);
    expect(n.raft.progress.get('c')!.next).toBe(4);
  });

  /** Elects 'a' over followers b and c, b holding `bTerms`; returns the rejections b sent and the cluster. */
  function converge(aTerms: number[], bTerms: number[], hsTerm: number) {
    const c = new Cluster({
      storage: {
        a: storageWith(aTerms, { term: hsTerm }),
        b: storageWith(bTerms, { term: hsTerm }),
        c: storageWith(aTerms, { term: hsTerm }),
      },
    });
    c.elect('a');
    expect(c.raft('a').role).toBe(Role.Leader);
    const rejections = c.deliveredOf('app-resp', { from: 'b', to: 'a' }).filter((m) => m.reject).length;
    const appends = c.deliveredOf('app', { from: 'a', to: 'b' }).length;
    expect(logTerms(c.raft('b'))).toEqual(logTerms(c.raft('a')));
    expect(c.raft('b').log.commit).toBe(c.raft('a').log.lastIndex());
    return { rejections, appends };
  }

  test('50 divergent entries of one old term cost one rejected round trip, not 50 (§5.3)', () => {
    const { rejections, appends } = converge(
      [...repeat(1, 5), ...repeat(3, 3)],
      [...repeat(1, 5), ...repeat(2, 50)],
      3,
    );
    expect(rejections).toBe(1);
    // One rejected probe, one that matches and replaces, one that carries the commit index.
    expect(appends).toBeLessThanOrEqual(3);
  });

  test('a longer leader log and three divergent follower terms converge in two rejected round trips (§5.3)', () => {
    const { rejections } = converge(
      [...repeat(1, 5), ...repeat(5, 40)],
      [...repeat(1, 5), ...repeat(2, 10), ...repeat(3, 10), ...repeat(4, 10)],
      5,
    );
    // The first rejection says "too short", the second names term 4, and the leader, which holds
    // nothing of terms 2..4, jumps straight to the common prefix.
    expect(rejections).toBe(2);
  });

  test('a follower ahead in an old term is cut back to the leader last entry of that term (§5.3)', () => {
    const { rejections } = converge(
      [...repeat(1, 5), ...repeat(2, 3), ...repeat(4, 3)],
      [...repeat(1, 5), ...repeat(2, 10), ...repeat(3, 10)],
      4,
    );
    expect(rejections).toBe(1);
  });
});
