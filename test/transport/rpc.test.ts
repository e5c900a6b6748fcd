// Application requests over the peer connection (a follower forwarding a client write to the
// leader), on 127.0.0.1 with ephemeral ports.
import { createServer } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { PeerUnavailableError, RequestFailedError, RequestTimeoutError } from '../../src/transport/errors.js';
import { LOOPBACK, Nodes, waitFor } from './helpers.js';

const nodes = new Nodes();
afterEach(() => nodes.stopAll());

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('requests between peers', () => {
  test('a request gets its reply, and concurrent requests are matched by id', async () => {
    const [a, b] = await nodes.cluster(['a', 'b']);
    b!.t.onRequest(async (from, payload) => {
      await new Promise((resolve) => setTimeout(resolve, payload[0] === 0x31 ? 20 : 0));
      return bytes(`${from} said ${text(payload)}`);
    });
    const replies = await Promise.all(['1', '2', '3'].map((p) => a!.t.request('b', bytes(p), 5_000)));
    expect(replies.map(text)).toEqual(['a said 1', 'a said 2', 'a said 3']);
    // And the other way round, on b's own outbound connection.
    a!.t.onRequest(async () => bytes('pong'));
    expect(text(await b!.t.request('a', bytes('ping'), 5_000))).toBe('pong');
  });

  test('a handler that fails reaches the requester as RequestFailedError', async () => {
    const [a, b] = await nodes.cluster(['a', 'b']);
    b!.t.onRequest(async () => {
      throw new Error('not the leader any more');
    });
    const err = await a!.t.request('b', bytes('x'), 5_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestFailedError);
    expect(err).toMatchObject({ code: 'ERR_REQUEST_FAILED', remoteMessage: 'not the leader any more' });
  });

  test('any error text from a handler reaches the requester, clipped and well-formed', async () => {
    const [a, b] = await nodes.cluster(['a', 'b']);
    b!.t.onRequest(async () => {
      throw new Error(`broken \uD800 surrogate ${'x'.repeat(100_000)}`);
    });
    const err = await a!.t.request('b', bytes('x'), 5_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestFailedError);
    const remote = (err as RequestFailedError).remoteMessage;
    expect(remote.startsWith('broken \uFFFD surrogate xxx')).toBe(true);
    expect(remote.length).toBeLessThanOrEqual(1_001);
  });

  test('a node without a request handler answers with an error', async () => {
    const [a] = await nodes.cluster(['a', 'b']);
    await expect(a!.t.request('b', bytes('x'), 5_000)).rejects.toMatchObject({
      code: 'ERR_REQUEST_FAILED',
      remoteMessage: 'it has no request handler',
    });
  });

  test('a request with no reply in time fails with RequestTimeoutError', async () => {
    const [a, b] = await nodes.cluster(['a', 'b']);
    b!.t.onRequest(() => new Promise(() => {}));
    const started = performance.now();
    const err = await a!.t.request('b', bytes('x'), 100).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect(err).toMatchObject({ code: 'ERR_TIMEOUT', peer: 'b', timeoutMs: 100 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
  });

  test('a request to a peer that is down fails with PeerUnavailableError, then fails fast while backing off', async () => {
    const a = await nodes.start('a', { backoff: { baseMs: 5_000, maxMs: 5_000 } });
    a.t.setPeer('b', { host: LOOPBACK, port: await closedPort() });
    const first = await a.t.request('b', bytes('x'), 5_000).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(PeerUnavailableError);
    expect(first).toMatchObject({ code: 'ERR_PEER_UNAVAILABLE' });
    expect((first as Error).message).toMatch(/could not connect \(connect ECONNREFUSED/);
    const started = performance.now();
    const second = await a.t.request('b', bytes('x'), 5_000).catch((e: unknown) => e);
    expect(second).toMatchObject({ code: 'ERR_PEER_UNAVAILABLE' });
    expect((second as Error).message).toMatch(/not connected \(the last attempt failed/);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  test('a request whose connection is lost fails with PeerUnavailableError: outcome unknown', async () => {
    const [a, b] = await nodes.cluster(['a', 'b']);
    let served = false;
    b!.t.onRequest(() => {
      served = true;
      return new Promise(() => {});
    });
    const outcome = a!.t.request('b', bytes('x'), 10_000).catch((e: unknown) => e);
    await waitFor(() => served, 5_000, 'the request to reach b');
    await b!.t.stop();
    const err = await outcome;
    expect(err).toBeInstanceOf(PeerUnavailableError);
    expect((err as Error).message).toMatch(/connection was lost .* may or may not have been executed/);
  });

  test('a request to an unknown node fails with PeerUnavailableError', async () => {
    const a = await nodes.start('a');
    await expect(a.t.request('nobody', bytes('x'), 1_000)).rejects.toBeInstanceOf(PeerUnavailableError);
  });
});
