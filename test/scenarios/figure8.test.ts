import { expect, test } from 'vitest';
import type { Message } from '../../src/raft/messages.js';
import { RawNode } from '../../src/raft/raw-node.js';
import { type NodeId, Role } from '../../src/raft/types.js';
import { Prng } from '../../src/sim/prng.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';

const ids = ['s1', 's2', 's3', 's4', 's5'];
const encoder = new TextEncoder();

/**
 * Five cores driven by hand: the test decides exactly which messages arrive. Readies are
 * persisted at once; a "crash" is simply a node the test stops delivering to and from.
 */
class HandNetwork {
  readonly storage = new Map<NodeId, MemoryStorage>();
  readonly nodes = new Map<NodeId, RawNode>();
  queue: Message[] = [];

  constructor() {
    for (const id of ids) {
      const storage = new MemoryStorage();
      this.storage.set(id, storage);
      this.nodes.set(id, this.make(id, storage));
    }
  }

  private make(id: NodeId, storage: MemoryStorage): RawNode {
    // One entry per AppendEntries (entryBytesMax 1), so the test can deliver entries one at a time.
    const rng = new Prng(id.charCodeAt(1));
    return new RawNode({
      id,
      voters: ids,
      storage,
      rng,
      preVote: false,
      checkQuorum: false,
      entryBytesMax: 1,
    });
  }

  node(id: NodeId): RawNode {
    return this.nodes.get(id)!;
  }

  /** A reboot: a new core from what is on the node's disk. */
  restart(id: NodeId): void {
    this.nodes.set(id, this.make(id, this.storage.get(id)!));
  }

  flush(): void {
    for (const [id, raw] of this.nodes) {
      while (raw.hasReady()) {
        const rd = raw.ready();
        const st = this.storage.get(id)!;
        st.append(rd.entries);
        if (rd.hardState !== undefined) st.setHardState(rd.hardState);
        this.queue.push(...rd.messages, ...rd.messagesAfterPersist);
        raw.advance();
      }
    }
  }

  /** Delivers queued messages that `allow` accepts, drops the rest, until nothing is left. */
  run(allow: (m: Message) => boolean): void {
    for (let round = 0; round < 100; round++) {
      this.flush();
      if (this.queue.length === 0) return;
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) if (allow(m)) this.node(m.to).step(m);
    }
    throw new Error('hand network did not go quiet');
  }

  terms(id: NodeId): number[] {
    const st = this.storage.get(id)!;
    return st.allEntries().map((e) => e.term);
  }
}

const among =
  (...group: NodeId[]) =>
  (m: Message) =>
    group.includes(m.from) && group.includes(m.to);

test('Figure 8: an old-term entry stored on a majority is not committed by counting, is later overwritten, and nothing committed is lost (§5.4.2)', () => {
  const net = new HandNetwork();
  // (a) s1 leads term 1; its no-op commits everywhere. Then it takes a write and reaches only s2.
  net.node('s1').campaign();
  net.run(() => true);
  expect(net.node('s1').raft.role).toBe(Role.Leader);
  for (const id of ids) expect(net.terms(id)).toEqual([1]);
  net.node('s1').propose([encoder.encode('X!')]);
  net.run(among('s1', 's2'));
  expect(net.terms('s1')).toEqual([1, 1]);
  expect(net.terms('s2')).toEqual([1, 1]);

  // (b) s1 crashes. s5 wins term 2 with votes from s3, s4 and itself; its own entry goes nowhere.
  net.node('s5').campaign();
  net.run((m) => among('s3', 's4', 's5')(m) && m.type !== 'app');
  expect(net.node('s5').raft.role).toBe(Role.Leader);
  expect(net.node('s5').raft.term).toBe(2);
  expect(net.terms('s5')).toEqual([1, 2]);

  // (c) s5 crashes; s1 reboots and wins term 3 with s2 and s3 (§5.4.1: their logs are no newer).
  net.restart('s1');
  net.node('s1').campaign(); // term 2: s3 already voted for s5 in term 2
  net.run(among('s1', 's2', 's3'));
  if (net.node('s1').raft.role !== Role.Leader) {
    net.node('s1').campaign();
    // s2 gets everything; s3 gets X (index 2, term 1) but never s1's own-term no-op at index 3.
    net.run(
      (m) =>
        among('s1', 's2', 's3')(m) &&
        !(
          m.type === 'app' &&
          m.to === 's3' &&
          m.entries.some((e) => e.index === 3) &&
          net.terms('s3').length >= 2
        ),
    );
  }
  const s1 = net.node('s1').raft;
  expect(s1.role).toBe(Role.Leader);
  expect(s1.term).toBe(3);
  // X (index 2, term 1) is now stored on s1, s2 and s3: a majority of five...
  for (const id of ['s1', 's2', 's3']) expect(net.terms(id).slice(0, 2)).toEqual([1, 1]);
  expect(s1.progress.get('s3')!.match).toBe(2);
  expect(s1.progress.get('s2')!.match).toBe(3);
  // ...but it is not of s1's term, so counting replicas must not commit it.
  expect(s1.log.commit).toBe(1);

  // (d) s1 crashes before its own-term entry reaches a majority. s5 reboots and wins term 4 with
  // s4, s3 and itself (its last entry, term 2, is newer than their term-1 entries) and overwrites X.
  net.restart('s5');
  net.node('s5').campaign(); // term 3: everyone else is there already
  net.run(among('s3', 's4', 's5'));
  if (net.node('s5').raft.role !== Role.Leader) {
    net.node('s5').campaign();
    net.run(among('s2', 's3', 's4', 's5'));
  }
  expect(net.node('s5').raft.role).toBe(Role.Leader);
  net.run(among('s2', 's3', 's4', 's5'));
  for (const id of ['s2', 's3', 's4', 's5']) {
    expect(net.terms(id)[1], `${id} index 2`).toBe(2);
    expect(
      net.node(id).raft.log.commit,
      `${id} commit ${JSON.stringify(net.node(id).status())}`,
    ).toBeGreaterThanOrEqual(3);
  }
  // Had s1 committed X in (c), a committed entry would have been lost here. The entry that was
  // committed (index 1) survives everywhere.
  for (const id of ids) expect(net.terms(id)[0]).toBe(1);
});
