import { describe, expect, test } from 'vitest';
import { EntryKind, Role } from '../../src/raft/types.js';
import { appResp, Cluster, logTerms, repeat, Solo, storageWith, voteResp } from './harness.js';

describe('the commit rule (§5.4.2, Figure 8)', () => {
  test('a new leader appends an Empty entry of its term on election (§5.4.2)', () => {
    const c = new Cluster({
      storage: { a: storageWith([1, 2], { term: 2 }), b: storageWith([1, 2]), c: storageWith([1]) },
    });
    const a = c.elect('a');
    expect(a.role).toBe(Role.Leader);
    expect(a.term).toBe(3);
    const last = a.log.entryAt(a.log.lastIndex())!;
    expect(last).toMatchObject({ index: 3, term: 3, kind: EntryKind.Empty });
    expect(last.data.length).toBe(0);
    for (const id of c.ids) expect(logTerms(c.raft(id))).toEqual([1, 2, 3]);
  });

  test('the Empty entry, once committed, commits the older-term entries before it (§5.4.2)', () => {
    const c = new Cluster({
      storage: { a: storageWith([1, 2]), b: storageWith([1, 2]), c: storageWith([1, 2]) },
    });
    c.elect('a');
    for (const id of c.ids) {
      expect(c.raft(id).log.commit).toBe(3);
      expect(c.applied.get(id)!.map((e) => [e.index, e.term, e.kind])).toEqual([
        [1, 1, EntryKind.Normal],
        [2, 2, EntryKind.Normal],
        [3, 3, EntryKind.Empty],
      ]);
    }
  });

  test('a leader does not commit an older-term entry stored on a majority by counting replicas (§5.4.2, Figure 8)', () => {
    // Every node holds (1, t1) (2, t2); a becomes leader of term 3. Entry 2 is on a and b — a
    // majority — yet it may still be overwritten (Figure 8), so counting must not commit it.
    const a = new Solo({ preVote: false, storage: storageWith([1, 2], { term: 2 }) });
    a.raw.campaign();
    a.cycle();
    a.raw.step(voteResp({ from: 'b', to: 'a', term: 3, reject: false }));
    expect(a.raft.role).toBe(Role.Leader);
    expect(a.raft.progress.get('a')!.match).toBe(2);

    a.raw.step(appResp({ from: 'b', to: 'a', term: 3, index: 2 }));
    expect(a.raft.progress.get('b')!.match).toBe(2);
    expect(a.raft.log.commit).toBe(0);

    // a persists its Empty entry (3, t3): matches are now a=3, b=2, c=0 — the majority holds 2.
    a.cycle();
    expect(a.raft.progress.get('a')!.match).toBe(3);
    expect(a.raft.log.commit).toBe(0);

    // Once an entry of the current term is on a majority, it and everything before it commit.
    a.raw.step(appResp({ from: 'b', to: 'a', term: 3, index: 3 }));
    const rd = a.cycle();
    expect(a.raft.log.commit).toBe(3);
    expect(rd.committedEntries.map((e) => e.index)).toEqual([1, 2, 3]);
  });

  test('a leader commits the highest index of its term stored on a majority (§5.4.2)', () => {
    const a = new Solo({
      voters: ['a', 'b', 'c', 'd', 'e'],
      preVote: false,
      storage: storageWith([], { term: 1 }),
    });
    a.raw.campaign();
    a.cycle();
    a.raw.step(voteResp({ from: 'b', to: 'a', term: 2, reject: false }));
    a.raw.step(voteResp({ from: 'c', to: 'a', term: 2, reject: false }));
    expect(a.raft.role).toBe(Role.Leader);
    a.cycle();
    for (const id of ['b', 'c', 'd', 'e']) a.raw.step(appResp({ from: id, to: 'a', term: 2, index: 1 }));
    a.cycle();
    a.raw.propose(repeat(0, 4).map(() => Uint8Array.of(1)));
    a.cycle();
    // matches: a=5, b=5, c=3, d=2, e=1 → the third highest (a majority of 5) is 3.
    a.raw.step(appResp({ from: 'b', to: 'a', term: 2, index: 5 }));
    a.raw.step(appResp({ from: 'c', to: 'a', term: 2, index: 3 }));
    a.raw.step(appResp({ from: 'd', to: 'a', term: 2, index: 2 }));
    expect(a.raft.log.commit).toBe(3);
  });
});
