import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { type Operation, parseJsonlHistory } from '../../src/check/index.js';
import { encodeFrame } from '../../src/transport/codec.js';
import { PROTOCOL_VERSION } from '../../src/transport/frames.js';
import { findFailedWritesSeen } from './failed-writes.js';
import { HistoryRecorder } from './history-recorder.js';
import { KeySpace } from './key-space.js';
import { classify } from './kv-http.js';
import { LinkProxy } from './link-proxy.js';
import { findLostWrites } from './lost-writes.js';
import { sleep } from './nemesis-cluster.js';
import { PeerIngress } from './peer-ingress.js';

// The harness's own parts: how answers enter the history, the lost-write check, the proxy.

describe('classify: HTTP answers in the history', () => {
  const answer = (status: number, code?: string, body: Record<string, unknown> = {}) => ({
    status,
    code,
    body: { ...(code === undefined ? {} : { code }), ...body },
  });

  test('200 is ok; a get reads its value, a 404 get reads absent', () => {
    expect(classify('get', answer(200, undefined, { value: 'a', modRevision: 7 }))).toMatchObject({
      type: 'ok',
      value: 'a',
      modRevision: 7,
    });
    expect(classify('put', answer(200, undefined, { revision: 8 }))).toMatchObject({
      type: 'ok',
      modRevision: 8,
    });
    expect(classify('get', answer(404, 'ERR_KEY_NOT_FOUND'))).toMatchObject({ type: 'ok', value: null });
  });

  test('412 on a cas is a definite failure that names the current value', () => {
    const got = classify(
      'cas',
      answer(412, 'ERR_CONDITION_FAILED', { current: { value: 'b', modRevision: 3 } }),
    );
    expect(got).toMatchObject({ type: 'fail', current: { value: 'b', modRevision: 3 } });
  });

  test('a never-applied 503 fails a put and leaves a cas out; a 504 or a lost connection is unknown', () => {
    expect(classify('put', answer(503, 'ERR_NO_LEADER')).type).toBe('fail');
    expect(classify('get', answer(503, 'ERR_READ_UNAVAILABLE')).type).toBe('fail');
    expect(classify('cas', answer(503, 'ERR_PROPOSAL_DROPPED')).type).toBe('leave-out');
    expect(classify('put', answer(504, 'ERR_TIMEOUT')).type).toBe('info');
    expect(classify('put', { error: 'TypeError: ECONNRESET', refused: false }).type).toBe('info');
    expect(classify('put', { error: 'TypeError: ECONNREFUSED', refused: true }).type).toBe('fail');
    expect(classify('cas', { error: 'TypeError: ECONNREFUSED', refused: true }).type).toBe('leave-out');
  });

  test('a distrusted 503 is unknown; an undocumented answer is unknown and flagged', () => {
    expect(classify('put', answer(503, 'ERR_NO_LEADER'), new Set()).type).toBe('info');
    expect(classify('put', answer(500, 'ERR_INTERNAL'))).toMatchObject({ type: 'info', anomaly: true });
  });
});

function history(build: (r: HistoryRecorder) => void): readonly Operation[] {
  const r = new HistoryRecorder();
  build(r);
  return parseJsonlHistory(r.toJsonl()).operations;
}

describe('the lost-write check', () => {
  test('an acknowledged put that the final value ignores is lost', () => {
    const ops = history((r) => {
      r.ok(r.invoke(0, 'put', 'k', { value: 'a' }));
      r.ok(r.invoke(0, 'put', 'k', { value: 'b' }));
    });
    const lost = findLostWrites(ops, new Map([['k', 'a']]));
    expect(lost).toHaveLength(1);
    expect(lost[0]?.detail).toContain('put k = "b"');
    expect(findLostWrites(ops, new Map([['k', 'b']]))).toEqual([]);
  });

  test('a write of unknown outcome may land last; a value never written is reported', () => {
    const ops = history((r) => {
      const late = r.invoke(1, 'put', 'k', { value: 'a' });
      r.ok(r.invoke(0, 'put', 'k', { value: 'b' }));
      r.info(late, 'ERR_TIMEOUT');
    });
    expect(findLostWrites(ops, new Map([['k', 'a']]))).toEqual([]);
    expect(findLostWrites(ops, new Map([['k', 'zz']]))[0]?.detail).toContain('written never');
  });

  test('an absent final value needs a delete after the last acknowledged put', () => {
    const ops = history((r) => {
      r.ok(r.invoke(0, 'put', 'k', { value: 'a' }));
      r.ok(r.invoke(0, 'delete', 'k'));
    });
    expect(findLostWrites(ops, new Map([['k', null]]))).toEqual([]);
    const only = history((r) => r.ok(r.invoke(0, 'put', 'k', { value: 'a' })));
    expect(findLostWrites(only, new Map([['k', null]]))).toHaveLength(1);
  });

  test('a cas refused before it ran is left out of the history', () => {
    const r = new HistoryRecorder();
    r.leaveOut(r.invoke(0, 'cas', 'k', { value: 'a', expected: null }), 'ERR_NO_LEADER');
    expect(r.toJsonl()).toBe('');
    expect(r.counts().cas['left-out']).toBe(1);
  });
});

test('a value read after its write was answered "not applied" is named with that answer', () => {
  const r = new HistoryRecorder();
  r.fail(r.invoke(0, 'put', 'k', { value: 'a', node: '3' }), 'ERR_NO_LEADER');
  r.ok(r.invoke(1, 'get', 'k', { node: '1' }), 'a');
  r.fail(r.invoke(0, 'put', 'k', { value: 'b' }), 'ERR_OVERLOADED');
  r.ok(r.invoke(1, 'get', 'k'), 'a');
  const seen = findFailedWritesSeen(r.events());
  expect(seen).toHaveLength(1);
  expect(seen[0]).toMatchObject({ key: 'k', value: 'a', error: 'ERR_NO_LEADER' });
  expect(seen[0]?.detail).toContain('sent to node 3');
});

test('a key is retired after enough writes of unknown outcome', () => {
  const keys = new KeySpace('s', 2, 100, 2);
  const [first] = keys.current();
  keys.count(first!, true);
  expect(keys.current()[0]).toBe(first);
  keys.count(first!, true);
  expect(keys.current()[0]).toBe('s/k0.1');
  expect(keys.all()).toEqual(['s/k0.0', 's/k0.1', 's/k1.0']);
});

describe('the link proxy', () => {
  let server: Server | undefined;
  let proxy: LinkProxy | undefined;
  afterEach(async () => {
    await proxy?.stop();
    await new Promise<void>((r) => (server === undefined ? r() : server.close(() => r())));
  });

  async function echoThroughProxy(): Promise<{ client: Socket; received: () => string }> {
    server = createServer((s) => s.pipe(s));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    proxy = new LinkProxy('1', '2', (server.address() as { port: number }).port, () => 0.5);
    await proxy.start();
    const client = connect(proxy.port, '127.0.0.1');
    await once(client, 'connect');
    let text = '';
    client.on('data', (b: Buffer) => {
      text += b.toString();
    });
    return { client, received: () => text };
  }

  async function until(cond: () => boolean, ms = 2000): Promise<void> {
    const deadline = performance.now() + ms;
    while (!cond() && performance.now() < deadline) await sleep(5);
  }

  test('forwards both ways, holds bytes in a blackhole and delivers them in order on a flushing heal', async () => {
    const { client, received } = await echoThroughProxy();
    client.write('a');
    await until(() => received() === 'a');
    proxy!.cut('blackhole');
    client.write('b');
    client.write('c');
    await sleep(100);
    expect(received()).toBe('a');
    proxy!.heal(true);
    await until(() => received() === 'abc');
    expect(received()).toBe('abc');
  });

  test('a reset cut closes the connection and refuses new ones', async () => {
    const { client } = await echoThroughProxy();
    const closed = once(client, 'close');
    proxy!.cut('reset');
    await closed;
    const again = connect(proxy!.port, '127.0.0.1');
    again.on('error', () => {});
    await once(again, 'close');
    expect(proxy!.stats.refused).toBe(1);
  });

  test('a delay holds every chunk at least that long', async () => {
    const { client, received } = await echoThroughProxy();
    proxy!.setFaults({ delayMs: 150, jitterMs: 0, resetChance: 0, stallChance: 0, stallMs: 0 });
    const sent = performance.now();
    client.write('x');
    await until(() => received() === 'x');
    expect(performance.now() - sent).toBeGreaterThanOrEqual(290);
  });
});

describe('the peer ingress', () => {
  let server: Server | undefined;
  let ingress: PeerIngress | undefined;
  const links = new Map<string, LinkProxy>();
  afterEach(async () => {
    // Links first: the ingress's listener closes once the connections it handed over are gone.
    for (const l of links.values()) await l.stop();
    await ingress?.stop();
    links.clear();
    await new Promise<void>((r) => (server === undefined ? r() : server.close(() => r())));
  });

  /** Node 3's ingress in front of an echo server, with links from nodes 1 and 2. */
  async function ingressTo3(): Promise<void> {
    server = createServer((s) => s.pipe(s));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    for (const from of ['1', '2']) links.set(from, new LinkProxy(from, '3', port, () => 0.5));
    ingress = new PeerIngress('3', (from) => links.get(from));
    await ingress.start();
  }

  function handshake(from: string, to: string): Buffer {
    const frame = { type: 'handshake', version: PROTOCOL_VERSION, clusterId: 'c', from, to } as const;
    return Buffer.from(encodeFrame(frame));
  }

  async function dial(
    first: Buffer,
  ): Promise<{ client: Socket; received: () => Buffer; closed: Promise<unknown> }> {
    const client = connect(ingress!.port, '127.0.0.1');
    client.on('error', () => {});
    const closed = once(client, 'close');
    await once(client, 'connect');
    let got = Buffer.alloc(0);
    client.on('data', (b: Buffer) => {
      got = Buffer.concat([got, b]);
    });
    // Split in two writes: the ingress must wait for the whole handshake frame.
    client.write(first.subarray(0, 3));
    await sleep(20);
    client.write(first.subarray(3));
    return { client, received: () => got, closed };
  }

  test('hands a connection to the link of the node named in its handshake, first bytes included', async () => {
    await ingressTo3();
    const first = Buffer.concat([handshake('2', '3'), Buffer.from('after')]);
    const { received } = await dial(first);
    const deadline = performance.now() + 2000;
    while (received().length < first.length && performance.now() < deadline) await sleep(5);
    expect(received().equals(first)).toBe(true);
    expect(links.get('2')!.stats.accepted).toBe(1);
    expect(links.get('1')!.stats.accepted).toBe(0);
  });

  test('a cut link refuses what its dialler sends; other diallers still get through', async () => {
    await ingressTo3();
    links.get('1')!.cut('reset');
    const refused = await dial(handshake('1', '3'));
    await refused.closed;
    expect(links.get('1')!.stats.refused).toBe(1);
    const other = await dial(handshake('2', '3'));
    await sleep(50);
    expect(other.client.destroyed).toBe(false);
    other.client.destroy();
  });

  test('a connection that is no handshake, or names an unknown node, is closed', async () => {
    await ingressTo3();
    await (await dial(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).closed;
    await (await dial(handshake('9', '3'))).closed;
    expect(ingress!.unrouted).toBe(2);
  });
});
