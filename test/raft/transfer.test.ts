// Leadership transfer (thesis §3.10).
import { describe, expect, test } from 'vitest';
import { NotLeaderError, TransferInProgressError, UnknownMemberError } from '../../src/raft/errors.js';
import { Role } from '../../src/raft/types.js';
import { Cluster, ofType } from './harness.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('leadership transfer (thesis §3.10)', () => {
  test('to an up-to-date follower: TimeoutNow at once, and it wins the next term (CheckQuorum on)', () => {
    const c = new Cluster();
    c.elect('a');
    const term = c.raft('a').term;
    c.node('a').transferLeadership('b');
    c.processAll();
    expect(ofType(c.queue, 'timeout-now').map((m) => m.to)).toEqual(['b']);
    c.deliverAll();
    expect(c.raft('b').role).toBe(Role.Leader);
    expect(c.raft('b').term).toBe(term + 1);
    expect(c.raft('a').role).toBe(Role.Follower);
    // c had heard from a within the election timeout, yet voted: the vote carried `transfer`.
    expect(c.deliveredOf('vote', { from: 'b' }).every((m) => m.transfer)).toBe(true);
  });

  test('to a follower that lags: the leader brings it up to date first, then sends TimeoutNow', () => {
    const c = new Cluster();
    c.elect('a');
    c.isolate('c');
    for (let k = 0; k < 5; k++) c.node('a').propose([bytes(`w${k}`)]);
    c.deliverAll();
    c.heal();
    c.node('a').transferLeadership('c');
    c.tick('a', 3); // heartbeat replies reveal c's gap; appends close it; then TimeoutNow
    expect(c.raft('c').role).toBe(Role.Leader);
    expect(c.raft('c').log.lastIndex()).toBeGreaterThanOrEqual(7);
    const timeoutNow = c.deliveredOf('timeout-now', { to: 'c' });
    expect(timeoutNow).toHaveLength(1);
  });

  test('while a transfer is in progress the leader refuses proposals', () => {
    const c = new Cluster();
    c.elect('a');
    c.isolate('b');
    c.node('a').transferLeadership('b');
    expect(() => c.node('a').propose([bytes('x')])).toThrow(TransferInProgressError);
  });

  test('a transfer that cannot complete within an election timeout is abandoned and the leader leads on', () => {
    const c = new Cluster();
    c.elect('a');
    c.isolate('b');
    c.node('a').transferLeadership('b');
    c.tick('a', 10);
    expect(c.raft('a').role).toBe(Role.Leader);
    expect(c.raft('a').leadTransferee).toBe('');
    expect(() => c.node('a').propose([bytes('x')])).not.toThrow();
  });

  test('only the leader transfers, and only to a voter', () => {
    const c = new Cluster();
    c.elect('a');
    expect(() => c.node('b').transferLeadership('c')).toThrow(NotLeaderError);
    expect(() => c.node('a').transferLeadership('z')).toThrow(UnknownMemberError);
  });

  test('a leader gives up its lease once it sends TimeoutNow: the target may win within the lease', () => {
    const c = new Cluster({ config: { leaseReads: true } });
    c.tickAll(10); // past the quiet period after start
    c.elect('a');
    c.tick('a', 2);
    const a = c.raft('a');
    expect(a.leaseRound).toBeGreaterThan(0);
    c.node('a').transferLeadership('b');
    c.processAll();
    expect(a.leaseRound).toBe(0);
    c.clearQueue(); // TimeoutNow lost: a still leads, but must not serve lease reads this term
    c.tick('a', 3);
    expect(a.role).toBe(Role.Leader);
    expect(a.leaseRound).toBe(0);
  });
});
