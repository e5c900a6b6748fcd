// Membership changes seen by the transport: a peer that leaves (removePeer), a peer that moves
// (setPeer with a new address), and the "host:port" strings configurations carry. Loopback only.
import { afterEach, describe, expect, test } from 'vitest';
import type { NodeTransport } from '../../src/node/transport.js';
import { ConfigError } from '../../src/raft/errors.js';
import { formatPeerAddress, parsePeerAddress } from '../../src/transport/peer-address.js';
import { heartbeat, LOOPBACK, Nodes, waitFor } from './helpers.js';

const nodes = new Nodes();
afterEach(() => nodes.stopAll());

const commitsIn = (inbox: readonly { type: string; commit?: unknown }[]) =>
  inbox.flatMap((m) => (m.type === 'heartbeat' ? [m.commit] : []));

describe('removePeer', () => {
  test('a removed peer loses both connections, its pending work, and cannot connect again', async () => {
    const [a, b] = await nodes.cluster(['a', 'b']);
    a!.t.send([heartbeat('a', 'b', 1)]);
    b!.t.send([heartbeat('b', 'a', 1)]);
    await waitFor(() => a!.inbox.length === 1 && b!.inbox.length === 1, 5_000, 'both directions');
    await waitFor(() => b!.t.stats().peers.a!.inbound, 5_000, "b to accept a's connection");
    // Queued in this turn, never flushed: removePeer discards it; a request in flight fails.
    b!.t.onRequest(() => new Promise(() => {}));
    a!.t.onRequest(() => new Promise(() => {}));
    const pending = b!.t.request('a', new Uint8Array([1]), 60_000).catch((err: unknown) => err);
    b!.t.send([heartbeat('b', 'a', 99)]);
    b!.t.removePeer('a');

    expect(await pending).toMatchObject({ code: 'ERR_PEER_UNAVAILABLE' });
    expect(b!.t.stats().peers.a).toBeUndefined();
    // b closed its own link and a's connection to it: a sees both go.
    await waitFor(
      () => !a!.t.stats().peers.b!.connected && !a!.t.stats().peers.b!.inbound,
      5_000,
      'a to see both connections closed',
    );

    // a still believes b is a peer and reconnects: b refuses it as a stranger.
    const refusedBefore = b!.t.stats().refused;
    a!.t.send([heartbeat('a', 'b', 2)]);
    await waitFor(() => b!.t.stats().refused > refusedBefore, 5_000, "b to refuse a's handshake");
    expect(b!.log.has('warn', /refused a connection from "a" .*unknown node id "a"/)).toBe(true);
    // A retry after a lost connection: logged at info, as routine retries are.
    await waitFor(
      () => a!.log.lines.some((l) => /the peer refused us: unknown node id "a"/.test(l.message)),
      5_000,
      "a's log",
    );
    expect(commitsIn(b!.inbox)).toEqual([1]);
    expect(commitsIn(a!.inbox)).toEqual([1]);

    // Raft may keep addressing a removed member for a while: dropped, with no line per message.
    const linesBefore = b!.log.lines.length;
    for (let k = 0; k < 20; k++) b!.t.send([heartbeat('b', 'a', 100 + k)]);
    expect(b!.log.lines.slice(linesBefore)).toEqual([]);
    expect(b!.log.lines.filter((l) => /removed peer a/.test(l.message))).toEqual([
      {
        level: 'info',
        message: 'transport b: removed peer a: its connections are closed and messages to it are dropped',
      },
    ]);
    await expect(b!.t.request('a', new Uint8Array([1]), 1_000)).rejects.toMatchObject({
      code: 'ERR_PEER_UNAVAILABLE',
    });
  });

  test('a removed peer named again with setPeer is a peer again', async () => {
    const [a, b] = await nodes.cluster(['a', 'b']);
    b!.t.removePeer('a');
    b!.t.setPeer('a', a!.t.address());
    b!.t.send([heartbeat('b', 'a', 5)]);
    await waitFor(() => a!.inbox.length === 1, 5_000, 'the message to the re-added peer');
    a!.t.send([heartbeat('a', 'b', 6)]);
    await waitFor(() => b!.inbox.length === 1, 5_000, 'the message from the re-added peer');
    expect(b!.t.stats().refused).toBe(0);
  });
});

describe('setPeer with a new address', () => {
  test('the link closes the connection to the old address and reconnects to the new one', async () => {
    const a = await nodes.start('a');
    const b1 = await nodes.start('b', {}, { a: a.t.address() });
    const b2 = await nodes.start('b', {}, { a: a.t.address() });
    a.t.setPeer('b', b1.t.address());
    a.t.send([heartbeat('a', 'b', 1)]);
    await waitFor(() => b1.inbox.length === 1, 5_000, 'delivery at the old address');
    await waitFor(() => b1.t.stats().peers.a!.inbound, 5_000, "b1 to accept a's connection");

    // Through the interface RaftNode sees, with the string form a configuration carries.
    const asNodeTransport: NodeTransport = a.t;
    asNodeTransport.setPeer!('b', `${LOOPBACK}:${b2.t.address().port}`);
    await waitFor(() => !b1.t.stats().peers.a!.inbound, 5_000, 'the old connection to close');
    let n = 1;
    await waitFor(
      () => {
        a.t.send([heartbeat('a', 'b', ++n)]);
        return b2.inbox.length > 0;
      },
      5_000,
      'delivery at the new address',
    );
    expect(b1.inbox).toHaveLength(1);
    expect(a.t.stats().peers.b!.connected).toBe(true);
    expect(b2.t.stats().peers.a!.inbound).toBe(true);
    expect(
      a.log.has(
        'info',
        new RegExp(`peer b moved from 127\\.0\\.0\\.1:\\d+ to 127\\.0\\.0\\.1:${b2.t.address().port}`),
      ),
    ).toBe(true);
    // A move is not a failure: no warning, no backoff.
    expect(a.log.lines.filter((l) => l.level !== 'info')).toEqual([]);
  });

  test('the same address again changes nothing', async () => {
    const [a, b] = await nodes.cluster(['a', 'b']);
    a!.t.send([heartbeat('a', 'b', 1)]);
    await waitFor(() => b!.inbox.length === 1, 5_000, 'the first message');
    const { port } = b!.t.address();
    a!.t.setPeer('b', `${LOOPBACK}:${port}`);
    a!.t.send([heartbeat('a', 'b', 2)]);
    await waitFor(() => b!.inbox.length === 2, 5_000, 'the second message');
    expect(a!.t.stats().peers.b!.reconnects).toBe(0);
  });

  test('an address that does not parse is a ConfigError', async () => {
    const a = await nodes.start('a');
    expect(() => a.t.setPeer('b', 'no-port')).toThrow(ConfigError);
    expect(a.t.stats().peers.b).toBeUndefined();
  });
});

describe('parsePeerAddress', () => {
  test.each([
    ['127.0.0.1:7101', { host: '127.0.0.1', port: 7101 }],
    ['node-2.internal:1', { host: 'node-2.internal', port: 1 }],
    ['[::1]:7101', { host: '::1', port: 7101 }],
    ['[fe80::1%eth0]:65535', { host: 'fe80::1%eth0', port: 65535 }],
  ])('%s', (text, address) => {
    expect(parsePeerAddress(text)).toEqual(address);
    expect(formatPeerAddress(address)).toBe(text);
  });

  test.each([
    ['', /must be "host:port"/],
    ['host', /must be "host:port"/],
    ['::1:7101', /must be "host:port"/],
    ['[::1]', /must be "host:port"/],
    ['host:', /must be "host:port"/],
    ['host:0', /must be in \[1, 65535\]/],
    ['host:65536', /must be in \[1, 65535\]/],
    ['host:123456', /must be "host:port"/],
    [' host:1', /must be "host:port"/],
  ])('%j is refused', (text, message) => {
    expect(() => parsePeerAddress(text)).toThrow(ConfigError);
    expect(() => parsePeerAddress(text)).toThrow(message);
  });
});

describe('requests to a peer that cannot be reached', () => {
  test('a request that never left (no connection ever opened) is marked as not delivered', async () => {
    const [a] = await nodes.cluster(['a']);
    // Nothing listens on port 1 of loopback: the connection is refused before any handshake.
    a!.t.setPeer('ghost', { host: LOOPBACK, port: 1 });
    const err = await a!.t.request('ghost', new Uint8Array([1]), 5_000).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_PEER_UNAVAILABLE', maybeDelivered: false });
  });

  test('a request on a connection that is lost after it opened may have been delivered', async () => {
    const [a, b] = await nodes.cluster(['a', 'b']);
    b!.t.onRequest(() => new Promise(() => {})); // b never answers
    const pending = a!.t.request('b', new Uint8Array([1]), 60_000).catch((e: unknown) => e);
    await waitFor(() => a!.t.stats().peers.b!.connected, 5_000, 'a connected to b');
    await b!.t.stop();
    expect(await pending).toMatchObject({ code: 'ERR_PEER_UNAVAILABLE', maybeDelivered: true });
  });
});
