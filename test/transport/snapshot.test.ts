// Snapshot streaming: chunks, acks, resume after a lost connection, and the Raft `snapshot`
// message held back until the receiver's handler has consumed the data. Loopback only.
import { afterEach, describe, expect, test } from 'vitest';
import type { Message, SnapshotMessage } from '../../src/raft/messages.js';
import { index, type SnapshotMeta, term } from '../../src/raft/types.js';
import { SnapshotAbortedError } from '../../src/transport/errors.js';
import type { SnapshotSource } from '../../src/transport/transport.js';
import { CutProxy, Nodes, type TestNode, waitFor } from './helpers.js';

const nodes = new Nodes();
const proxies: CutProxy[] = [];
afterEach(async () => {
  await nodes.stopAll();
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

const MiB = 1024 * 1024;
const CHUNK = 256 * 1024;
const META: SnapshotMeta = { index: index(1_000), term: term(3), voters: ['a', 'b', 'c'] };
const SNAPSHOT_MESSAGE: SnapshotMessage = {
  type: 'snapshot',
  from: 'a',
  to: 'b',
  term: term(4),
  snapshot: META,
};

function snapshotBytes(n: number): Uint8Array {
  const data = new Uint8Array(n);
  for (let k = 0; k < n; k++) data[k] = Math.imul(k, 2_654_435_761) >>> 24;
  return data;
}

/** A source that yields `data` from `offset` in pieces of `pieceBytes`, recording every open. */
function source(data: Uint8Array, pieceBytes: number, opens: number[]): SnapshotSource {
  return async function* (offset) {
    opens.push(offset);
    for (let at = offset; at < data.length; at += pieceBytes) yield data.subarray(at, at + pieceBytes);
  };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** a sends to b through a proxy the test can cut; b reaches a directly. */
async function pairThroughProxy(options = {}): Promise<{ a: TestNode; b: TestNode; proxy: CutProxy }> {
  const opts = { snapshotChunkBytesMax: CHUNK, ...options };
  const a = await nodes.start('a', opts);
  const b = await nodes.start('b', opts, { a: a.t.address() });
  const proxy = await CutProxy.start(b.t.address());
  proxies.push(proxy);
  a.t.setPeer('b', proxy.address);
  return { a, b, proxy };
}

const snapshotsIn = (inbox: readonly Message[]) => inbox.filter((m) => m.type === 'snapshot');

describe('snapshot transfer', () => {
  test('a 6 MiB snapshot survives a lost connection and resumes from the acknowledged offset', async () => {
    const { a, b, proxy } = await pairThroughProxy();
    const data = snapshotBytes(6 * MiB);
    const opens: number[] = [];
    const events: string[] = [];
    const received: Uint8Array[] = [];
    let cutAt = -1;
    b.t.onSnapshot(async (from, meta, chunks) => {
      expect(from).toBe('a');
      expect(meta).toEqual(META);
      let got = 0;
      for await (const chunk of chunks) {
        received.push(Uint8Array.from(chunk)); // "written to the file"
        got += chunk.length;
        if (cutAt < 0 && got >= 2 * MiB) {
          cutAt = got;
          proxy.cut();
        }
      }
      events.push('handler done');
    });
    b.t.onMessage((m) => events.push(m.type));
    // The core's message goes out first, as it would from a Ready; b holds it until the data is in.
    a.t.send([SNAPSHOT_MESSAGE]);
    const ok = await a.t.sendSnapshot('b', META, source(data, MiB, opens));

    expect(ok).toBe(true);
    expect(Buffer.compare(concat(received), data)).toBe(0);
    expect(cutAt).toBeGreaterThan(0);
    // Exactly one resume, from an acknowledged offset: past the start, not past what b had consumed.
    expect(opens).toHaveLength(2);
    expect(opens[0]).toBe(0);
    expect(opens[1]).toBeGreaterThan(0);
    expect(opens[1]).toBeLessThanOrEqual(cutAt);
    expect(a.t.stats().peers.b!.reconnects).toBeGreaterThanOrEqual(1);
    await waitFor(() => events.includes('snapshot'), 5_000, 'the snapshot message');
    expect(events).toEqual(['handler done', 'snapshot']);
  });

  test('the snapshot message sent after the data arrived is delivered at once', async () => {
    const { a, b } = await pairThroughProxy();
    let done = false;
    b.t.onSnapshot(async (_from, _meta, chunks) => {
      for await (const _ of chunks);
      done = true;
    });
    expect(await a.t.sendSnapshot('b', META, source(snapshotBytes(MiB), CHUNK, []))).toBe(true);
    expect(done).toBe(true);
    expect(snapshotsIn(b.inbox)).toEqual([]);
    a.t.send([SNAPSHOT_MESSAGE]);
    await waitFor(() => snapshotsIn(b.inbox).length === 1, 5_000, 'the snapshot message');
    expect(snapshotsIn(b.inbox)[0]).toEqual(SNAPSHOT_MESSAGE);
    // A retransmission of the same message is delivered too (the core ignores a stale one).
    a.t.send([SNAPSHOT_MESSAGE]);
    await waitFor(() => snapshotsIn(b.inbox).length === 2, 5_000, 'the retransmission');
  });

  test('sending a snapshot the receiver already holds completes without streaming it again', async () => {
    const { a, b } = await pairThroughProxy();
    let handlerCalls = 0;
    b.t.onSnapshot(async (_from, _meta, chunks) => {
      handlerCalls++;
      for await (const _ of chunks);
    });
    const data = snapshotBytes(2 * MiB);
    expect(await a.t.sendSnapshot('b', META, source(data, CHUNK, []))).toBe(true);
    const sentBefore = a.t.stats().peers.b!.framesSent;
    expect(await a.t.sendSnapshot('b', META, source(data, CHUNK, []))).toBe(true);
    expect(handlerCalls).toBe(1);
    // At most the window's worth of chunks went out before b's answer arrived.
    expect(a.t.stats().peers.b!.framesSent - sentBefore).toBeLessThanOrEqual(4);
  });

  test('a snapshot taken in a joint configuration reaches the receiver with learners, outgoing voters and addresses', async () => {
    const { a, b } = await pairThroughProxy();
    const meta: SnapshotMeta = {
      index: index(2_000),
      term: term(5),
      voters: ['a', 'b', 'd'],
      learners: ['e'],
      outgoing: ['a', 'b', 'c'],
      addresses: {
        a: '127.0.0.1:7101',
        b: '127.0.0.1:7102',
        c: 'c.internal:7103',
        d: '[::1]:7104',
        e: '10.0.0.5:7105',
      },
    };
    const message: SnapshotMessage = { ...SNAPSHOT_MESSAGE, snapshot: meta };
    const data = snapshotBytes(3 * CHUNK + 17);
    const seen: SnapshotMeta[] = [];
    const received: Uint8Array[] = [];
    b.t.onSnapshot(async (_from, m, chunks) => {
      seen.push(m);
      for await (const chunk of chunks) received.push(Uint8Array.from(chunk));
    });
    a.t.send([message]);
    expect(await a.t.sendSnapshot('b', meta, source(data, CHUNK, []))).toBe(true);
    expect(seen).toEqual([meta]);
    expect(Buffer.compare(concat(received), data)).toBe(0);
    await waitFor(() => snapshotsIn(b.inbox).length === 1, 5_000, 'the snapshot message');
    expect(snapshotsIn(b.inbox)[0]).toEqual(message);
  });

  test('a configuration that leaves no room for data in a chunk frame is refused before sending', async () => {
    const { a, b } = await pairThroughProxy({ frameBytesMax: 4_096 });
    let calls = 0;
    b.t.onSnapshot(async () => {
      calls++;
    });
    const addresses = Object.fromEntries(
      Array.from({ length: 200 }, (_, k) => [`node-${k}`, `host-${k}.example:7101`]),
    );
    const big: SnapshotMeta = { ...META, addresses };
    await expect(a.t.sendSnapshot('b', big, source(snapshotBytes(10), CHUNK, []))).rejects.toThrow(
      /exceeds frameBytesMax \(4096\)/,
    );
    expect(a.t.stats().peers.b!.framesSent).toBe(0);
    expect(calls).toBe(0);
  });

  test('an empty snapshot is transferred too', async () => {
    const { a, b } = await pairThroughProxy();
    let chunks = -1;
    b.t.onSnapshot(async (_from, _meta, stream) => {
      chunks = 0;
      for await (const _ of stream) chunks++;
    });
    expect(await a.t.sendSnapshot('b', META, source(new Uint8Array(0), CHUNK, []))).toBe(true);
    expect(chunks).toBe(0);
  });

  test('when the handler fails the sender gets false and the snapshot message is never delivered', async () => {
    const { a, b } = await pairThroughProxy();
    b.t.onSnapshot(async (_from, _meta, chunks) => {
      for await (const _ of chunks) throw new Error('disk full');
    });
    a.t.send([SNAPSHOT_MESSAGE]);
    expect(await a.t.sendSnapshot('b', META, source(snapshotBytes(2 * MiB), CHUNK, []))).toBe(false);
    await waitFor(
      () => a.log.has('warn', /b did not take snapshot 1000: .*disk full/),
      5_000,
      "a's log line",
    );
    expect(b.log.has('warn', /snapshot 1000 from a aborted: the snapshot handler failed: disk full/)).toBe(
      true,
    );
    // Give the message every chance to (wrongly) arrive: a later heartbeat on the same connection does.
    a.t.send([{ type: 'heartbeat', from: 'a', to: 'b', term: term(4), commit: index(0), context: 0 }]);
    await waitFor(() => b.inbox.length === 1, 5_000, 'the heartbeat');
    expect(b.inbox[0]!.type).toBe('heartbeat');
  });

  test('a node without a snapshot handler refuses the transfer', async () => {
    const { a, b } = await pairThroughProxy();
    expect(await a.t.sendSnapshot('b', META, source(snapshotBytes(1_000), CHUNK, []))).toBe(false);
    expect(a.log.has('warn', /this node has no snapshot handler/)).toBe(true);
    expect(b.inbox).toEqual([]);
  });

  test('when the receiver stays unreachable both ends give up: false, and an aborted stream', async () => {
    const { a, b, proxy } = await pairThroughProxy({ snapshotRetriesMax: 2, snapshotIdleMs: 300 });
    let aborted: unknown;
    b.t.onSnapshot(async (_from, _meta, chunks) => {
      try {
        for await (const _ of chunks) {
          if (proxy.connections > 0) await proxy.close(); // no reconnect will succeed
        }
      } catch (err) {
        aborted = err;
        throw err;
      }
    });
    expect(await a.t.sendSnapshot('b', META, source(snapshotBytes(4 * MiB), CHUNK, []))).toBe(false);
    expect(a.log.has('warn', /gave up sending snapshot 1000 to b: the connection failed 3 times/)).toBe(true);
    await waitFor(() => aborted !== undefined, 5_000, "the receiver's idle timeout");
    expect(aborted).toBeInstanceOf(SnapshotAbortedError);
    expect(aborted).toMatchObject({ code: 'ERR_SNAPSHOT_ABORTED', reason: 'no chunk arrived for 300 ms' });
  });
});
