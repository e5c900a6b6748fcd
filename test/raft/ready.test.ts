import { describe, expect, test } from 'vitest';
import { InvariantError } from '../../src/raft/assert.js';
import type { MessageType } from '../../src/raft/messages.js';
import { app, Cluster, entry, hardState, heartbeat, Solo, storageWith } from './harness.js';

const data = Uint8Array.of(1);

describe('Ready: what the host must do, in order (thesis §10.2.1)', () => {
  test('leader AppendEntries and heartbeats may go before persistence; votes, replies and acks wait for it (thesis §10.2.1)', () => {
    const c = new Cluster({ config: { electionTicks: 10 } });
    c.elect('a');
    c.node('a').propose([data]);
    c.deliverAll();
    c.tickAll(3);
    // A second election, PreVote included, so every message type shows up.
    c.isolate('a');
    c.tickAll(40);
    c.heal();
    c.tickAll(5);

    const before = new Set<MessageType>();
    const after = new Set<MessageType>();
    for (const { ready } of c.readies) {
      for (const m of ready.messages) before.add(m.type);
      for (const m of ready.messagesAfterPersist) after.add(m.type);
    }
    expect([...before].sort()).toEqual(['app', 'heartbeat']);
    expect([...after].sort()).toEqual([
      'app-resp',
      'heartbeat-resp',
      'pre-vote',
      'pre-vote-resp',
      'vote',
      'vote-resp',
    ]);
  });

  test('a follower acknowledges appended entries only after persisting them (§5.3, thesis §10.2.1)', () => {
    const b = new Solo({ id: 'b', storage: storageWith([], { term: 1 }) });
    b.raw.step(app({ from: 'a', to: 'b', term: 1, prevIndex: 0, prevTerm: 0, entries: [entry(1, 1)] }));
    const rd = b.raw.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([1]);
    expect(rd.messages).toEqual([]);
    expect(rd.messagesAfterPersist.map((m) => m.type)).toEqual(['app-resp']);
  });

  test('hardState is present only when term, vote or commit changed (thesis §3.8)', () => {
    const c = new Cluster({ config: { heartbeatTicks: 1 } });
    c.elect('a');
    const start = c.readies.length;
    c.tickAll(1);
    const quiet = c.readies.slice(start);
    expect(quiet.length).toBeGreaterThan(0);
    for (const { ready } of quiet) expect(ready.hardState).toBeUndefined();

    // A commit change is a hard state change.
    c.node('a').propose([data]);
    const rd = c.process('a')!;
    expect(rd.hardState).toBeUndefined();
    const mark = c.readies.length;
    c.deliverAll();
    const commits = c.readies
      .slice(mark)
      .filter(({ id, ready }) => id === 'a' && ready.hardState !== undefined)
      .map(({ ready }) => ready.hardState);
    expect(commits).toEqual([hardState(1, 'a', 2)]);
  });

  test('a follower stepping a heartbeat that changes nothing gets no hard state (thesis §3.8)', () => {
    const b = new Solo({ id: 'b', storage: storageWith([1], { term: 1, commit: 1 }) });
    const rd = b.step(heartbeat({ from: 'a', to: 'b', term: 1, commit: 1 }));
    expect(rd.hardState).toBeUndefined();
    expect(rd.messagesAfterPersist.map((m) => m.type)).toEqual(['heartbeat-resp']);
  });

  test('ready() twice without advance() throws InvariantError (etcd-style Ready, DESIGN.md: The core)', () => {
    const n = new Solo();
    n.raw.campaign();
    n.raw.ready();
    expect(() => n.raw.ready()).toThrow(InvariantError);
    n.raw.advance();
    expect(() => n.raw.ready()).not.toThrow();
  });

  test('advance() without a ready() throws InvariantError (etcd-style Ready, DESIGN.md: The core)', () => {
    const n = new Solo();
    expect(() => n.raw.advance()).toThrow(InvariantError);
  });

  test('entries handed out in a Ready are not handed out again after advance() (etcd-style Ready, DESIGN.md: The core)', () => {
    const n = new Solo({ voters: ['a'] });
    n.raw.campaign();
    expect(n.cycle().entries.map((e) => e.index)).toEqual([1]);
    n.raw.propose([data, data]);
    expect(n.cycle().entries.map((e) => e.index)).toEqual([2, 3]);
    expect(n.cycle().entries).toEqual([]);
    expect(n.raw.hasReady()).toBe(false);
  });

  test('committed entries come in index order and are never repeated after advance() (Figure 2: lastApplied)', () => {
    const c = new Cluster();
    c.elect('a');
    for (let k = 0; k < 5; k++) {
      c.node('a').propose([data]);
      c.deliverAll();
    }
    c.tickAll(2);
    for (const id of c.ids) {
      expect(c.applied.get(id)!.map((e) => e.index)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(c.node(id).hasReady()).toBe(false);
    }
  });

  test('with committedBytesMax small, committed entries come over several Readies, in order, without repeats (Figure 2: lastApplied)', () => {
    const c = new Cluster({ config: { committedBytesMax: 2 } });
    c.elect('a');
    c.node('a').propose([data, data, data, data, data]);
    c.deliverAll();
    for (const id of c.ids) expect(c.applied.get(id)!.map((e) => e.index)).toEqual([1, 2, 3, 4, 5, 6]);
    const sizes = c.readies
      .filter(({ id }) => id === 'b')
      .map(({ ready }) => ready.committedEntries.length)
      .filter((n) => n > 0);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(3);
  });
});

describe('which Readies must be synced', () => {
  test('entries or a new term/vote must be synced; a change of the commit index alone need not be (thesis §3.8, DESIGN.md: Durability rules)', () => {
    const c = new Cluster({ config: { preVote: false } });
    c.node('a').campaign();
    expect(c.node('a').ready().mustSync).toBe(true); // a new term and a vote for itself
    c.node('a').advance();
    c.elect('a');
    c.node('a').propose([new TextEncoder().encode('x')]);
    c.processAll();
    const toB = c.queue.filter((m) => m.to === 'b');
    c.queue = [];
    for (const m of toB) c.deliver(m);
    const withEntry = c.node('b').ready();
    expect(withEntry.entries).toHaveLength(1);
    expect(withEntry.mustSync).toBe(true);
    c.persist('b', withEntry);
    c.send(withEntry.messagesAfterPersist);
    c.node('b').advance();
    c.deliverAll({ drop: (m) => m.to === 'b' }); // a commits x with b's ack...
    c.node('a').tick();
    c.processAll();
    const heartbeat = c.queue.find((m) => m.type === 'heartbeat' && m.to === 'b')!;
    c.deliver(heartbeat); // ...and b learns the new commit index alone
    const commitOnly = c.node('b').ready();
    expect(commitOnly.entries).toEqual([]);
    expect(commitOnly.hardState?.commit).toBe(c.raft('a').log.commit);
    expect(commitOnly.mustSync).toBe(false);
  });
});
