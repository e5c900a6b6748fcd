// InstallSnapshot and log compaction in the core (Raft paper §7).
import { describe, expect, test } from 'vitest';
import { EmptyProposalError } from '../../src/raft/errors.js';
import { ProgressState } from '../../src/raft/progress.js';
import { index, term } from '../../src/raft/types.js';
import { Cluster, logTerms, ofType, vote } from './harness.js';

const bytes = (s: string) => new TextEncoder().encode(s);

/** a leads; c is cut off while a commits `n` writes, then a snapshots and compacts through commit. */
function compactedWhileCAway(n: number) {
  const c = new Cluster({ config: { preVote: false, checkQuorum: false } });
  c.elect('a');
  c.isolate('c');
  for (let k = 0; k < n; k++) c.node('a').propose([bytes(`w${k}`)]);
  c.deliverAll();
  const a = c.raft('a');
  const commit = a.log.commit;
  expect(commit).toBe(n + 1);
  const st = c.storage('a');
  st.setSnapshot({ index: commit, term: a.term, voters: c.ids });
  st.compact(commit);
  expect(a.log.firstIndex()).toBe(commit + 1);
  return { c, commit };
}

describe('InstallSnapshot (§7)', () => {
  test('a leader sends a snapshot to a follower that needs entries it compacted away', () => {
    const { c, commit } = compactedWhileCAway(5);
    c.heal();
    // Two heartbeat rounds: c's replies show its acks stopped, the leader probes, finds the
    // entries gone and sends the snapshot instead.
    c.tick('a', 2);
    const snaps = c.deliveredOf('snapshot', { from: 'a', to: 'c' });
    expect(snaps).toHaveLength(1);
    expect(snaps[0]!.snapshot).toEqual({ index: commit, term: c.raft('a').term, voters: ['a', 'b', 'c'] });
    // The follower installed it (the harness persists Ready.snapshot), acked, and caught up.
    expect(c.storage('c').snapshot()?.index).toBe(commit);
    expect(c.raft('c').log.commit).toBe(commit);
    expect(c.raft('a').progress.get('c')!.match).toBe(commit);
    c.node('a').propose([bytes('after')]);
    c.deliverAll();
    expect(c.raft('c').log.commit).toBe(commit + 1);
    expect(c.raft('a').progress.get('c')!.state).toBe(ProgressState.Replicate);
  });

  test('the Ready that restores a snapshot carries it, and its ack waits for the install', () => {
    const { c, commit } = compactedWhileCAway(3);
    c.heal();
    c.tick('a', 1, { drop: (m) => m.type === 'snapshot' });
    c.node('a').tick();
    c.processAll();
    // Deliver until the snapshot reaches c, then look at c's Ready by hand.
    for (let k = 0; k < 50; k++) {
      const m = c.queue.shift();
      if (m === undefined) break;
      c.deliver(m);
      if (m.type === 'snapshot') break;
      c.processAll();
    }
    const rd = c.node('c').ready();
    expect(rd.snapshot?.index).toBe(commit);
    expect(rd.messages).toEqual([]);
    const acks = ofType(rd.messagesAfterPersist, 'app-resp');
    expect(acks).toHaveLength(1);
    expect(acks[0]!.index).toBe(commit);
    expect(rd.committedEntries).toEqual([]); // the snapshot is the state, nothing to re-apply
  });

  test('a follower that already holds the snapshot’s last entry only advances its commit index', () => {
    const c = new Cluster({ config: { preVote: false, checkQuorum: false } });
    c.elect('a');
    c.node('a').propose([bytes('x')]);
    c.deliverAll();
    const b = c.raft('b');
    const before = logTerms(b);
    b.step({
      type: 'snapshot',
      from: 'a',
      to: 'b',
      term: b.term,
      snapshot: { index: index(2), term: b.term, voters: c.ids },
    });
    expect(logTerms(b)).toEqual(before);
    expect(b.log.pendingSnapshot()).toBeUndefined();
  });

  test('a lost snapshot is offered again after an election timeout of heartbeat replies', () => {
    const { c } = compactedWhileCAway(4);
    c.heal();
    c.tick('a', 2, { drop: (m) => m.type === 'snapshot' });
    const pr = c.raft('a').progress.get('c')!;
    expect(pr.state).toBe(ProgressState.Snapshot);
    c.tick('a', 12); // heartbeats flow; after electionTicks of replies the leader probes again
    expect(c.deliveredOf('snapshot', { to: 'c' }).length).toBeGreaterThanOrEqual(1);
    expect(c.storage('c').snapshot()).toBeDefined();
  });

  test('reportSnapshot(false) makes the leader probe, and the next heartbeat round sends the snapshot again', () => {
    const { c } = compactedWhileCAway(2);
    c.heal();
    c.tick('a', 2, { drop: (m) => m.type === 'snapshot' });
    expect(c.raft('a').progress.get('c')!.state).toBe(ProgressState.Snapshot);
    const sentBefore = c.readies.flatMap((r) => ofType(r.ready.messages, 'snapshot')).length;
    c.node('a').reportSnapshot('c', false);
    expect(c.raft('a').progress.get('c')!.state).toBe(ProgressState.Probe);
    c.tick('a', 1);
    const sentAfter = c.readies.flatMap((r) => ofType(r.ready.messages, 'snapshot')).length;
    expect(sentAfter).toBe(sentBefore + 1);
    expect(c.storage('c').snapshot()).toBeDefined();
  });

  test('a restarted node starts with commit and applied at its snapshot', () => {
    const { c, commit } = compactedWhileCAway(3);
    const st = c.storage('a');
    const again = new Cluster({ storage: { a: st } });
    expect(again.raft('a').log.commit).toBe(commit);
    expect(again.raft('a').log.applied).toBe(commit);
    expect(again.raft('a').log.term(index(commit))).toBe(term(c.raft('a').term));
  });
});

describe('input the core refuses', () => {
  test('propose with no entries throws EmptyProposalError', () => {
    const c = new Cluster();
    c.elect('a');
    expect(() => c.node('a').propose([])).toThrow(EmptyProposalError);
  });

  test('a vote request from a node outside this node\u2019s configuration is judged on its log alone (§4.2.2)', () => {
    // A voter added by a change this node has not received yet must still be able to get its
    // vote, or a cluster whose only up-to-date voters are new can never elect (as in etcd-io/raft).
    const c = new Cluster({ config: { preVote: false, checkQuorum: false } });
    c.elect('a');
    c.node('a').propose([new TextEncoder().encode('x')]);
    c.deliverAll();
    const b = c.raft('b');
    const last = b.log.lastIndex();
    b.step(vote({ from: 'z', to: 'b', term: 5, lastIndex: 1, lastTerm: 1 }));
    expect(ofType(b.msgs, 'vote-resp').at(-1)?.reject).toBe(true); // behind b's log: refused
    b.step(vote({ from: 'z', to: 'b', term: 6, lastIndex: last, lastTerm: b.log.lastTerm() }));
    expect(ofType(b.msgs, 'vote-resp').at(-1)?.reject).toBe(false);
    expect(b.vote).toBe('z');
  });
});
