// Real sockets on 127.0.0.1 with ephemeral ports. Every wait has a deadline; every transport is
// stopped in afterEach, so no socket or timer outlives its test.
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, test } from 'vitest';
import type { Message } from '../../src/raft/messages.js';
import { encodeFrame } from '../../src/transport/codec.js';
import { PROTOCOL_VERSION } from '../../src/transport/frames.js';
import { TcpTransport } from '../../src/transport/tcp-transport.js';
import { messageArb } from './arbitraries.js';
import { append, CapturedLog, FAST, heartbeat, LOOPBACK, Nodes, waitFor } from './helpers.js';

const nodes = new Nodes();
afterEach(() => nodes.stopAll());

/** Opens a raw client socket to a transport and collects whether it was closed. */
async function rawClient(
  port: number,
): Promise<{ socket: Socket; closed: () => boolean; received: Buffer[] }> {
  const socket = connect({ host: LOOPBACK, port });
  let closed = false;
  const received: Buffer[] = [];
  socket.on('close', () => {
    closed = true;
  });
  socket.on('error', () => {});
  socket.on('data', (b: Buffer) => received.push(b));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, closed: () => closed, received };
}

describe('TcpTransport messaging', () => {
  test('three transports exchange every kind of message, in order per sender', async () => {
    const ids = ['a', 'b', 'c'];
    const cluster = await nodes.cluster(ids);
    // A snapshot message waits for its data (snapshot.test.ts); every other type flows at once.
    const samples = fc.sample(messageArb, { numRuns: 80, seed: 7 }).filter((m) => m.type !== 'snapshot');
    expect(new Set(samples.map((m) => m.type)).size).toBe(9);
    const sent = new Map<string, Message[]>();
    for (const from of cluster) {
      const batch: Message[] = [];
      for (const to of ids) {
        if (to === from.id) continue;
        for (const m of samples) batch.push({ ...m, from: from.id, to } as Message);
      }
      from.t.send(batch);
      for (const m of batch) sent.set(`${m.from}>${m.to}`, [...(sent.get(`${m.from}>${m.to}`) ?? []), m]);
    }
    await waitFor(() => cluster.every((n) => n.inbox.length === 2 * samples.length), 5_000, 'all deliveries');
    for (const n of cluster) {
      for (const from of ids) {
        if (from === n.id) continue;
        expect(n.inbox.filter((m) => m.from === from)).toEqual(sent.get(`${from}>${n.id}`));
      }
    }
    const stats = cluster[0]!.t.stats();
    expect(stats.peers.b!.connected).toBe(true);
    expect(stats.peers.b!.inbound).toBe(true);
    expect(stats.peers.b!.framesSent).toBe(samples.length);
    expect(stats.peers.b!.dropped).toBe(0);
  });

  test('messages sent to one peer in one turn leave in one socket write', async () => {
    const [a, b] = await nodes.cluster(['a', 'b']);
    a!.t.send([heartbeat('a', 'b', 0)]);
    await waitFor(() => b!.inbox.length === 1, 5_000, 'the first message');
    const before = a!.t.stats().peers.b!;
    const N = 50;
    const batch = Array.from({ length: N }, (_, k) => append('a', 'b', k + 1, 100));
    // Several send() calls in one synchronous turn are coalesced too.
    a!.t.send(batch.slice(0, 20));
    a!.t.send(batch.slice(20));
    await waitFor(() => b!.inbox.length === 1 + N, 5_000, 'the batch');
    const after = a!.t.stats().peers.b!;
    expect(after.writes - before.writes).toBe(1);
    expect(after.framesSent - before.framesSent).toBe(N);
    // 50 appends of 100-byte payloads: at least their payloads went out, in that one write.
    expect(after.bytesSent - before.bytesSent).toBeGreaterThan(N * 100);
    expect(b!.inbox.slice(1)).toEqual(batch);
  });

  test('a node reconnects after its peer restarts on the same port', async () => {
    const a = await nodes.start('a');
    const b1 = await nodes.start('b');
    const port = b1.t.address().port;
    a.t.setPeer('b', b1.t.address());
    b1.t.setPeer('a', a.t.address());
    a.t.send([heartbeat('a', 'b', 1)]);
    await waitFor(() => b1.inbox.length === 1, 5_000, 'delivery before the restart');
    await b1.t.stop();
    await waitFor(() => !a.t.stats().peers.b!.connected, 5_000, 'a to notice');
    expect(a.log.has('warn', /connection to b at 127\.0\.0\.1:\d+ lost/)).toBe(true);

    const b2 = await nodes.start('b', { listen: { host: LOOPBACK, port } }, { a: a.t.address() });
    // Raft keeps sending; so does this test, until one gets through.
    let n = 1;
    await waitFor(
      () => {
        a.t.send([heartbeat('a', 'b', ++n)]);
        return b2.inbox.length > 0;
      },
      5_000,
      'delivery after the restart',
    );
    expect(a.t.stats().peers.b!.reconnects).toBeGreaterThanOrEqual(1);
    expect(a.t.stats().peers.b!.connected).toBe(true);
  });

  test('when the send queue is full the newest messages are dropped and counted', async () => {
    const limits = { sendQueueBytesMax: 8_192, frameBytesMax: 4_096 };
    const [a, b] = await nodes.cluster(['a', 'b'], limits);
    a!.t.send([heartbeat('a', 'b', 0)]);
    await waitFor(() => b!.inbox.length === 1, 5_000, 'the first message');
    const N = 20;
    const batch = Array.from({ length: N }, (_, k) => append('a', 'b', k + 1, 1_000));
    a!.t.send(batch);
    const dropped = a!.t.stats().peers.b!.dropped;
    const kept = N - dropped;
    expect(dropped).toBeGreaterThan(0);
    expect(kept).toBe(Math.floor(8_192 / encodeFrame(batch[0]!).length));
    await waitFor(() => b!.inbox.length === 1 + kept, 5_000, 'the queued messages');
    // The oldest were kept, in order.
    expect(b!.inbox.slice(1)).toEqual(batch.slice(0, kept));
    // Once the queue has drained, new messages are accepted again.
    a!.t.send([heartbeat('a', 'b', 99)]);
    await waitFor(() => b!.inbox.length === 2 + kept, 5_000, 'a message after the drain');
    expect(a!.t.stats().peers.b!.dropped).toBe(dropped);
  });

  test('a message to an unknown node is dropped with one warning', async () => {
    const a = await nodes.start('a');
    a.t.send([heartbeat('a', 'zz', 1), heartbeat('a', 'zz', 2)]);
    expect(a.log.lines.filter((l) => /not a known peer/.test(l.message))).toHaveLength(1);
  });

  test('stop() leaves no socket, server, timer or immediate behind', async () => {
    const kinds = ['TCPSocketWrap', 'TCPServerWrap', 'Timeout', 'Immediate'];
    const count = () => process.getActiveResourcesInfo().filter((r) => kinds.includes(r)).length;
    const before = count();
    const cluster = await nodes.cluster(['a', 'b', 'c']);
    for (const n of cluster) n.t.send([heartbeat(n.id, n.id === 'a' ? 'b' : 'a', 1)]);
    await waitFor(() => cluster[0]!.inbox.length === 2, 5_000, 'deliveries');
    // A request in flight and a peer in backoff, so there are timers to clean up.
    cluster[1]!.t.onRequest(() => new Promise(() => {}));
    const pending = cluster[0]!.t.request('b', new Uint8Array([1]), 60_000).catch((err: unknown) => err);
    cluster[0]!.t.setPeer('d', { host: LOOPBACK, port: 1 });
    cluster[0]!.t.send([heartbeat('a', 'd', 1)]);
    expect(count()).toBeGreaterThan(before);
    await nodes.stopAll();
    expect(await pending).toMatchObject({ code: 'ERR_PEER_UNAVAILABLE' });
    // At most what was there before (earlier tests' closing sockets may have finished meanwhile).
    expect(count()).toBeLessThanOrEqual(before);
  });
});

describe('TcpTransport options', () => {
  const base = { clusterId: 'c', id: 'a', listen: { host: LOOPBACK, port: 0 }, peers: {} };

  test.each([
    ['an empty cluster id', { clusterId: '' }, /clusterId must not be empty/],
    ['a frame limit below 4096', { frameBytesMax: 100 }, /frameBytesMax must be an integer/],
    [
      'a send queue smaller than a frame',
      { sendQueueBytesMax: 1_000 },
      /sendQueueBytesMax must be .* at least 16777216/,
    ],
    ['a backoff cap below its base', { backoff: { baseMs: 100, maxMs: 10 } }, /backoff.maxMs/],
    ['a peer port out of range', { peers: { b: { host: LOOPBACK, port: 70_000 } } }, /address of peer b/],
  ])('%s is a ConfigError', (_, override, message) => {
    expect(() => new TcpTransport({ ...base, ...override })).toThrow(message);
    try {
      new TcpTransport({ ...base, ...override });
    } catch (err) {
      expect(err).toMatchObject({ code: 'ERR_CONFIG' });
    }
  });
});

describe('TcpTransport refuses strangers', () => {
  async function intruder(
    id: string,
    clusterId: string,
    peers: Record<string, { host: string; port: number }>,
  ) {
    const log = new CapturedLog();
    const t = new TcpTransport({
      clusterId,
      id,
      listen: { host: LOOPBACK, port: 0 },
      peers,
      logger: log,
      ...FAST,
    });
    nodes.track(t);
    await t.start();
    return { t, log };
  }

  test('a peer with the wrong cluster id is refused, logged with the reason, and never joined', async () => {
    const [, b] = await nodes.cluster(['a', 'b']);
    const x = await intruder('a', 'another-cluster', { b: b!.t.address() });
    x.t.send([heartbeat('a', 'b', 1)]);
    await waitFor(() => b!.t.stats().refused >= 1, 5_000, 'the refusal');
    expect(b!.log.has('warn', /refused a connection from "a" .*wrong cluster id "another-cluster"/)).toBe(
      true,
    );
    await waitFor(
      () => x.log.has('warn', /the peer refused us: wrong cluster id/),
      5_000,
      'the intruder to log it',
    );
    expect(x.t.stats().peers.b!.connected).toBe(false);
    expect(b!.inbox).toEqual([]);
    expect(b!.t.stats().peers.a!.inbound).toBe(false);
  });

  test('a peer with an unknown node id is refused', async () => {
    const [, b] = await nodes.cluster(['a', 'b']);
    const x = await intruder('mallory', 'test-cluster', { b: b!.t.address() });
    x.t.send([heartbeat('mallory', 'b', 1)]);
    await waitFor(() => b!.t.stats().refused >= 1, 5_000, 'the refusal');
    expect(b!.log.has('warn', /unknown node id "mallory"/)).toBe(true);
    expect(b!.inbox).toEqual([]);
  });

  test('a peer that meant to reach another node is refused', async () => {
    const [, b] = await nodes.cluster(['a', 'b']);
    // a believes c listens at b's address.
    const x = await intruder('a', 'test-cluster', { c: b!.t.address() });
    x.t.send([heartbeat('a', 'c', 1)]);
    await waitFor(() => b!.t.stats().refused >= 1, 5_000, 'the refusal');
    expect(b!.log.has('warn', /addressed to node "c" but this is node "b"/)).toBe(true);
    expect(b!.inbox).toEqual([]);
  });

  test('garbage on the port closes that connection and the node keeps serving its peers', async () => {
    const [a, b] = await nodes.cluster(['a', 'b']);
    const raw = await rawClient(b!.t.address().port);
    raw.socket.write('GET / HTTP/1.1\r\nHost: flotilla\r\n\r\n');
    await waitFor(raw.closed, 5_000, 'the garbage connection to close');
    expect(b!.log.has('warn', /bad frame .*exceeds frameBytesMax/)).toBe(true);
    expect(b!.t.stats().protocolErrors).toBe(1);
    a!.t.send([heartbeat('a', 'b', 1)]);
    await waitFor(() => b!.inbox.length === 1, 5_000, 'a real message');
  });

  test('a frame before the handshake closes the connection', async () => {
    const [, b] = await nodes.cluster(['a', 'b']);
    const raw = await rawClient(b!.t.address().port);
    raw.socket.write(encodeFrame(heartbeat('a', 'b', 1)));
    await waitFor(raw.closed, 5_000, 'the connection to close');
    expect(b!.log.has('warn', /a heartbeat frame before the handshake/)).toBe(true);
    expect(b!.inbox).toEqual([]);
  });

  test('a truncated frame is logged when its connection closes; a silent client is timed out', async () => {
    const [, b] = await nodes.cluster(['a', 'b'], { handshakeTimeoutMs: 200 });
    const raw = await rawClient(b!.t.address().port);
    raw.socket.end(encodeFrame(heartbeat('a', 'b', 1)).subarray(0, 10));
    await waitFor(raw.closed, 5_000, 'the connection to close');
    await waitFor(() => b!.log.has('warn', /closed inside a frame \(10 bytes/), 5_000, 'the log line');
    const silent = await rawClient(b!.t.address().port);
    await waitFor(silent.closed, 5_000, 'the handshake timeout');
    expect(b!.log.has('warn', /no handshake within 200 ms/)).toBe(true);
  });

  test('a message whose sender differs from the handshake is refused and the connection closed', async () => {
    const b = await nodes.start('b', {}, { a: { host: LOOPBACK, port: 1 }, c: { host: LOOPBACK, port: 1 } });
    const raw = await rawClient(b.t.address().port);
    raw.socket.write(
      encodeFrame({
        type: 'handshake',
        version: PROTOCOL_VERSION,
        clusterId: 'test-cluster',
        from: 'c',
        to: 'b',
      }),
    );
    await waitFor(() => b.t.stats().peers.c!.inbound, 5_000, 'the handshake to be accepted');
    raw.socket.write(encodeFrame(heartbeat('a', 'b', 1)));
    await waitFor(raw.closed, 5_000, 'the connection to close');
    expect(b.log.has('warn', /a message from "a" to "b" on c's connection/)).toBe(true);
    expect(b.inbox).toEqual([]);
  });
});
