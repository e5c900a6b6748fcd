import { describe, expect, test } from 'vitest';
import type { Message } from '../../src/raft/messages.js';
import { ProgressState } from '../../src/raft/progress.js';
import { Role } from '../../src/raft/types.js';
import { appResp, Cluster, heartbeat, ofType, Solo, storageWith } from './harness.js';

const data = Uint8Array.of(7);
const appsTo = (msgs: readonly Message[], to: string) => ofType(msgs, 'app').filter((m) => m.to === to);
const dropAcks = (m: Message) => m.type === 'app-resp';

describe('probe and replicate (§5.3, flow control)', () => {
  test('a new leader probes each follower and switches to replicate after the first successful ack (§5.3)', () => {
    const c = new Cluster();
    c.node('a').campaign();
    c.deliverAll({ drop: dropAcks });
    const a = c.raft('a');
    expect(a.role).toBe(Role.Leader);
    expect(a.progress.get('b')!.state).toBe(ProgressState.Probe);
    expect(a.progress.get('b')!.probeSent).toBe(true);
    // The next heartbeat round brings the ack that the first probe lost.
    c.tickAll(1);
    expect(a.progress.get('b')!.state).toBe(ProgressState.Replicate);
    expect(a.progress.get('b')!.match).toBe(1);
    expect(a.progress.get('b')!.next).toBe(2);
  });

  test('in probe the leader has one AppendEntries outstanding per follower (§5.3)', () => {
    const c = new Cluster();
    c.node('a').campaign();
    c.deliverAll({ drop: dropAcks });
    c.clearQueue();
    for (let k = 0; k < 3; k++) {
      c.node('a').propose([data]);
      c.process('a');
    }
    expect(appsTo(c.queue, 'b')).toEqual([]);
    expect(appsTo(c.queue, 'c')).toEqual([]);
  });

  test('a probe whose reply was lost is sent again after the next heartbeat reply (§5.3)', () => {
    const c = new Cluster();
    c.node('a').campaign();
    c.deliverAll({ drop: dropAcks });
    c.clearQueue();
    c.node('a').tick();
    c.processAll();
    expect(ofType(c.queue, 'heartbeat').map((m) => m.to)).toEqual(['b', 'c']);
    // Deliver the heartbeats and bring back their replies: the leader probes again at once.
    for (const m of c.queue.splice(0)) c.deliver(m);
    c.processAll();
    expect(c.queue.map((m) => m.type)).toEqual(['heartbeat-resp', 'heartbeat-resp']);
    for (const m of c.queue.splice(0)) c.deliver(m);
    const rd = c.process('a')!;
    expect(appsTo(rd.messages, 'b')).toHaveLength(1);
    expect(appsTo(rd.messages, 'c')).toHaveLength(1);
    c.deliverAll();
    expect(c.raft('a').progress.get('b')!.state).toBe(ProgressState.Replicate);
  });

  test('in replicate at most inflightMax AppendEntries are in flight per follower (thesis §10.2.2, flow control)', () => {
    const c = new Cluster({ config: { inflightMax: 2 } });
    c.elect('a');
    expect(c.raft('a').progress.get('b')!.state).toBe(ProgressState.Replicate);
    for (let k = 0; k < 10; k++) {
      c.node('a').propose([data]);
      c.process('a');
    }
    // Ten proposals, but only two messages to each follower before any ack.
    expect(appsTo(c.queue, 'b').map((m) => m.entries.map((e) => e.index))).toEqual([[2], [3]]);
    expect(appsTo(c.queue, 'c')).toHaveLength(2);
    expect(c.raft('a').progress.get('b')!.inflights.count).toBe(2);

    // One ack from b frees one slot: exactly one more message goes to b, carrying the backlog.
    const first = appsTo(c.queue, 'b')[0]!;
    c.queue = c.queue.filter((m) => m !== first);
    c.deliver(first);
    c.process('b');
    const ack = c.queue.pop()!;
    expect(ack).toMatchObject({ type: 'app-resp', from: 'b', index: 2, reject: false });
    c.deliver(ack);
    const rd = c.process('a')!;
    expect(appsTo(rd.messages, 'b').map((m) => m.entries.map((e) => e.index))).toEqual([
      [4, 5, 6, 7, 8, 9, 10, 11],
    ]);

    c.deliverAll();
    for (const id of c.ids) expect(c.raft(id).log.commit).toBe(11);
  });

  test('a stale ack does not move a follower match back (§5.3)', () => {
    const c = new Cluster();
    c.elect('a');
    c.node('a').propose([data, data]);
    c.deliverAll();
    const pr = c.raft('a').progress.get('b')!;
    expect(pr.match).toBe(3);
    c.node('a').step(appResp({ from: 'b', to: 'a', term: 1, index: 1 }));
    expect(pr.match).toBe(3);
    expect(pr.next).toBe(4);
  });

  test('a rejection in replicate sends the follower back to probe from its match (§5.3)', () => {
    const c = new Cluster();
    c.elect('a');
    const pr = c.raft('a').progress.get('b')!;
    c.node('a').step(appResp({ from: 'b', to: 'a', term: 1, index: 3, reject: true, hintIndex: 2 }));
    expect(pr.state).toBe(ProgressState.Probe);
    expect(pr.next).toBe(2);
  });
});

describe('heartbeats (§5.2, §5.3)', () => {
  test('a leader sends heartbeats every heartbeatTicks carrying commit = min(follower match, leader commit) (§5.3)', () => {
    const c = new Cluster({ config: { heartbeatTicks: 3, electionTicks: 10 } });
    c.elect('a');
    c.isolate('c');
    c.node('a').propose([data]);
    c.deliverAll();
    c.heal();
    const a = c.raft('a');
    expect(a.log.commit).toBe(2);
    expect(a.progress.get('c')!.match).toBe(1);
    c.clearQueue();

    for (let k = 0; k < 2; k++) {
      c.node('a').tick();
      expect(ofType(allSent(c, 'a'), 'heartbeat')).toEqual([]);
    }
    c.node('a').tick();
    const beats = ofType(allSent(c, 'a'), 'heartbeat');
    expect(beats.map((m) => [m.to, m.commit])).toEqual([
      ['b', 2],
      ['c', 1],
    ]);
  });

  test('a follower commits from a heartbeat no further than its own log (§5.3)', () => {
    const b = new Solo({ id: 'b', storage: storageWith([1, 1, 1], { term: 1 }) });
    b.step(heartbeat({ from: 'a', to: 'b', term: 1, commit: 5 }));
    expect(b.raft.log.commit).toBe(3);
    expect(b.raft.lead).toBe('a');
  });
});

describe('the leader counts itself only after its own write (thesis §10.2.1)', () => {
  test('with both followers silent, the leader persisting an entry alone does not commit it (thesis §10.2.1)', () => {
    const c = new Cluster();
    c.elect('a');
    expect(c.raft('a').log.commit).toBe(1);
    c.node('a').propose([data]);
    c.deliverAll({ drop: dropAcks });
    expect(c.raft('a').progress.get('a')!.match).toBe(2);
    expect(c.raft('a').log.commit).toBe(1);
  });

  test('with one follower acked, the entry commits only when the leader advances its own Ready (thesis §10.2.1)', () => {
    const c = new Cluster();
    c.elect('a');
    c.clearQueue();
    const leader = c.node('a');
    leader.propose([data]);
    const rd = leader.ready();
    // The leader may send before its write is durable: deliver to b and bring b's ack back.
    expect(appsTo(rd.messages, 'b')).toHaveLength(1);
    for (const m of appsTo(rd.messages, 'b')) c.deliver(m);
    c.process('b');
    const ack = c.queue.shift()!;
    expect(ack).toMatchObject({ type: 'app-resp', from: 'b', to: 'a', index: 2, reject: false });
    c.deliver(ack);
    expect(leader.raft.progress.get('b')!.match).toBe(2);
    expect(leader.raft.log.commit).toBe(1);

    c.persist('a', rd);
    leader.advance();
    expect(leader.raft.progress.get('a')!.match).toBe(2);
    expect(leader.raft.log.commit).toBe(2);
  });
});

function allSent(c: Cluster, id: string): Message[] {
  const rd = c.process(id);
  return rd === undefined ? [] : [...rd.messages, ...rd.messagesAfterPersist];
}
