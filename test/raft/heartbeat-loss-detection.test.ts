// Loss detection by heartbeat replies must not mistake entries still in flight for lost ones.
import { describe, expect, test } from 'vitest';
import { ProgressState } from '../../src/raft/progress.js';
import { Cluster, ofType } from './harness.js';

describe('loss detection by heartbeat replies (thesis §10.2.2)', () => {
  test('a heartbeat reply to a heartbeat sent before new entries does not send the follower back to probe (thesis §10.2.2)', () => {
    const c = new Cluster({ config: { heartbeatTicks: 1 } });
    c.elect('a');
    c.tickAll(2);
    const a = c.node('a');
    const pr = a.raft.progress.get('b')!;
    expect(pr.state).toBe(ProgressState.Replicate);
    c.clearQueue();

    // A heartbeat round starts; b and c answer it.
    a.tick();
    c.process('a');
    for (const m of c.queue.splice(0)) c.deliver(m);
    c.process('b');
    c.process('c');
    const replies = c.queue.splice(0);
    expect(replies.map((m) => m.type)).toEqual(['heartbeat-resp', 'heartbeat-resp']);

    // Meanwhile a client proposes: entry 2 goes out to b and c (still in flight, not lost).
    a.propose([Uint8Array.of(1)]);
    c.process('a');
    expect(ofType(c.queue, 'app').filter((m) => m.to === 'b')).toHaveLength(1);

    // The replies to the earlier heartbeat arrive before the AppendEntries acks.
    for (const m of replies) c.deliver(m);
    expect(pr.state).toBe(ProgressState.Replicate);
    const rd = a.hasReady() ? a.ready() : undefined;
    expect(ofType(rd?.messages ?? [], 'app').filter((m) => m.to === 'b')).toEqual([]);
  });
});
