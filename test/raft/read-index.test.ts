// ReadIndex (thesis §6.4): linearizable reads without writing to the log.
import { describe, expect, test } from 'vitest';
import { NotLeaderError } from '../../src/raft/errors.js';
import { Cluster, ofType } from './harness.js';

const bytes = (s: string) => new TextEncoder().encode(s);

function readStatesOf(c: Cluster, id: string) {
  return c.readies.filter((r) => r.id === id).flatMap((r) => r.ready.readStates);
}

describe('ReadIndex (thesis §6.4)', () => {
  test('the leader releases a read at its commit index once a majority answered its heartbeat round', () => {
    const c = new Cluster();
    c.elect('a');
    c.node('a').propose([bytes('x')]);
    c.deliverAll();
    const commit = c.raft('a').log.commit;
    c.node('a').readIndex(7);
    c.processAll();
    // One heartbeat per follower carries the round; nothing is released before the replies.
    const hb = ofType(c.queue, 'heartbeat');
    expect(hb.map((m) => m.to).sort()).toEqual(['b', 'c']);
    expect(hb.every((m) => m.context > 0)).toBe(true);
    expect(readStatesOf(c, 'a')).toEqual([]);
    c.deliverAll();
    expect(readStatesOf(c, 'a')).toEqual([{ index: commit, requests: [7] }]);
  });

  test('one reply from a follower of two is enough in a 3-node cluster (the leader counts itself)', () => {
    const c = new Cluster();
    c.elect('a');
    c.isolate('c');
    c.node('a').readIndex(1);
    c.deliverAll();
    expect(readStatesOf(c, 'a').flatMap((r) => r.requests)).toEqual([1]);
  });

  test('reads that arrive before the round leaves share it: one heartbeat per follower', () => {
    const c = new Cluster();
    c.elect('a');
    for (let k = 1; k <= 10; k++) c.node('a').readIndex(k);
    c.processAll();
    expect(ofType(c.queue, 'heartbeat')).toHaveLength(2);
    c.deliverAll();
    expect(readStatesOf(c, 'a').flatMap((r) => r.requests)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  test('one round in flight at a time: reads during a round trip share the next round', () => {
    const c = new Cluster();
    c.elect('a');
    c.node('a').readIndex(1);
    c.processAll();
    expect(ofType(c.queue, 'heartbeat')).toHaveLength(2); // round 1 is out
    for (let k = 2; k <= 5; k++) {
      c.node('a').readIndex(k);
      c.processAll(); // each read in its own Ready, as they arrive under load
    }
    expect(ofType(c.queue, 'heartbeat')).toHaveLength(2); // no new broadcast while round 1 flies
    c.deliverAll();
    // Round 1's confirmation sent round 2 at once, carrying reads 2–5; both are released.
    expect(readStatesOf(c, 'a').map((r) => r.requests)).toEqual([[1], [2, 3, 4, 5]]);
  });

  test('a new leader serves no read until an entry of its own term has committed', () => {
    const c = new Cluster({ config: { preVote: false } });
    c.node('a').campaign();
    c.processAll();
    // Deliver only the votes: a leads, but its no-op has not committed yet.
    c.deliverAll({ drop: (m) => m.type === 'app' || m.type === 'app-resp' });
    const a = c.raft('a');
    expect(a.log.term(a.log.commit)).not.toBe(a.term);
    c.node('a').readIndex(3);
    c.deliverAll({ drop: (m) => m.type === 'app' || m.type === 'app-resp' });
    expect(readStatesOf(c, 'a')).toEqual([]);
    c.tickAll(1); // heartbeats bring the no-op across and it commits
    c.tick('a', 2);
    const released = readStatesOf(c, 'a');
    expect(released.flatMap((r) => r.requests)).toEqual([3]);
    expect(released[0]!.index).toBeGreaterThanOrEqual(1);
    expect(a.log.term(released[0]!.index)).toBe(a.term);
  });

  test('a leader cut off from the majority never confirms a read, and drops it when it steps down', () => {
    const c = new Cluster();
    c.elect('a');
    c.isolate('a');
    c.node('a').readIndex(42);
    c.tick('a', 25); // CheckQuorum makes it step down within two election timeouts
    expect(readStatesOf(c, 'a')).toEqual([]);
    const dropped = c.readies.filter((r) => r.id === 'a').flatMap((r) => r.ready.readsDropped);
    expect(dropped).toEqual([42]);
  });

  test('a one-node cluster confirms a read at once', () => {
    const c = new Cluster({ size: 1 });
    c.elect('a');
    c.node('a').readIndex(9);
    c.processAll();
    expect(readStatesOf(c, 'a').flatMap((r) => r.requests)).toEqual([9]);
  });

  test('a follower cannot serve ReadIndex itself', () => {
    const c = new Cluster();
    c.elect('a');
    expect(() => c.node('b').readIndex(1)).toThrow(NotLeaderError);
  });
});

describe('lease rounds (thesis §6.4.1)', () => {
  test('every heartbeat broadcast is a new round; leaseRound is the newest round a majority answered', () => {
    const c = new Cluster();
    c.elect('a');
    const a = c.raft('a');
    expect(a.leaseRound).toBe(0);
    c.tick('a', 1);
    const first = a.leaseRound;
    expect(first).toBeGreaterThan(0);
    c.tick('a', 1);
    expect(a.leaseRound).toBeGreaterThan(first);
  });

  test('with the followers silent the lease round stops advancing, and it resets with the term', () => {
    const c = new Cluster({ config: { preVote: false, checkQuorum: false } });
    c.elect('a');
    c.tick('a', 2);
    const a = c.raft('a');
    const held = a.leaseRound;
    c.isolate('b');
    c.isolate('c');
    c.tick('a', 3);
    expect(a.leaseRound).toBe(held);
    c.heal();
    c.elect('b');
    expect(a.leaseRound).toBe(0);
  });

  test('with leases on, a node that just started refuses to vote for one election timeout', () => {
    const c = new Cluster({ config: { preVote: false, leaseReads: true } });
    // Nobody has ticked: every node is still quiet after its start.
    c.node('a').campaign();
    c.deliverAll();
    expect(c.raft('a').role).not.toBe('leader');
    c.tickAll(10); // one election timeout later the quiet period is over
    c.node('a').campaign();
    c.deliverAll();
    expect(c.leaders()).toHaveLength(1);
  });
});
