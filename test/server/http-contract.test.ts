// The HTTP contract of docs/api.md beyond the happy path: status codes, Retry-After, conditional
// and idempotent writes, base64, the exact /v1/status shape, and answers to unparseable requests.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeBase64 } from '../../src/server/http-server.js';
import { waitFor } from '../node/helpers.js';
import { type LocalKvNode, settled, startLocalKv } from './local-kv.js';

async function call(
  base: string,
  method: string,
  path: string,
  body?: string | Uint8Array,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${base}${path}`, { method, body, headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text === '' ? undefined : JSON.parse(text) };
}

/** Sends raw bytes on a fresh connection and returns everything the server wrote before closing. */
function raw(base: string, request: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request));
    let got = '';
    socket.on('data', (b) => {
      got += b.toString('latin1');
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(got));
  });
}

const b64 = (bytes: number[]) => Buffer.from(bytes).toString('base64');

describe('a healthy cluster', () => {
  let cluster: Awaited<ReturnType<typeof startLocalKv>>;
  let leader: LocalKvNode;
  let follower: LocalKvNode;

  beforeAll(async () => {
    cluster = await startLocalKv();
    ({ leader, follower } = await settled(cluster));
  });

  afterAll(async () => {
    await cluster.stop();
  });

  test('/v1/status has exactly the documented fields and types', async () => {
    for (const n of [leader, follower]) {
      const s = await call(n.url, 'GET', '/v1/status');
      expect(s.status).toBe(200);
      expect(Object.keys(s.json).sort()).toEqual(
        ['appliedIndex', 'commitIndex', 'id', 'leader', 'members', 'role', 'term'].sort(),
      );
      expect(s.json.id).toBe(Number(n.id));
      expect(s.json.leader).toBe(Number(leader.id));
      expect(s.json.role).toBe(n === leader ? 'leader' : 'follower');
      for (const k of ['term', 'commitIndex', 'appliedIndex']) expect(Number.isInteger(s.json[k])).toBe(true);
      expect(s.json.members).toEqual(
        ['1', '2', '3'].map((id) => ({ id: Number(id), peerAddr: `local:${id}`, learner: false })),
      );
    }
  });

  test('DELETE with If-Match deletes at that modRevision and is 412 with the current value otherwise', async () => {
    const put = await call(leader.url, 'PUT', '/v1/kv/del-cas', 'v');
    const stale = await call(follower.url, 'DELETE', '/v1/kv/del-cas', undefined, {
      'If-Match': String(put.json.revision + 1000),
    });
    expect(stale.status).toBe(412);
    expect(stale.json).toMatchObject({
      code: 'ERR_CONDITION_FAILED',
      current: { key: 'del-cas', value: 'v', modRevision: put.json.revision },
    });
    const ok = await call(follower.url, 'DELETE', '/v1/kv/del-cas', undefined, {
      'If-Match': `"${put.json.revision}"`,
    });
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ deleted: 1, revision: expect.any(Number) });
    const gone = await call(leader.url, 'DELETE', '/v1/kv/del-cas', undefined, {
      'If-Match': String(put.json.revision),
    });
    expect(gone.status).toBe(412);
    expect(gone.json.current).toBeNull();
  });

  test('a conditional PUT retried with its Idempotency-Key returns the original result, not a 412', async () => {
    const first = await call(leader.url, 'PUT', '/v1/kv/idem-cas', 'v1');
    const h = { 'If-Match': String(first.json.revision), 'Idempotency-Key': 'cas-retry-1' };
    const a = await call(leader.url, 'PUT', '/v1/kv/idem-cas', 'v2', h);
    expect(a.status).toBe(200);
    const b = await call(follower.url, 'PUT', '/v1/kv/idem-cas', 'v2', h);
    expect(b.status).toBe(200);
    expect(b.json).toEqual(a.json);
    expect((await call(leader.url, 'GET', '/v1/kv/idem-cas')).json).toMatchObject({
      value: 'v2',
      version: 2,
    });
    // A failed condition is a result too: its retry fails the same way, with the same current value.
    const h2 = { 'If-Match': String(first.json.revision), 'Idempotency-Key': 'cas-retry-2' };
    const c = await call(leader.url, 'PUT', '/v1/kv/idem-cas', 'v3', h2);
    const d = await call(follower.url, 'PUT', '/v1/kv/idem-cas', 'v3', h2);
    expect(c.status).toBe(412);
    expect(d.status).toBe(412);
    expect(d.json.current).toEqual(c.json.current);
  });

  test('a binary key and value round-trip with ?encoding=base64 (standard or URL-safe alphabet)', async () => {
    const key = b64([0xfb, 0xff, 0x00, 0x2f]); // "+/8ALw==": both special characters
    const value = b64([0, 255, 10, 13, 128]);
    const put = await call(leader.url, 'PUT', `/v1/kv/${encodeURIComponent(key)}?encoding=base64`, value);
    expect(put.status).toBe(200);
    expect(put.json.key).toBe(key);
    const got = await call(follower.url, 'GET', `/v1/kv/${encodeURIComponent(key)}?encoding=base64`);
    expect(got.json).toMatchObject({ key, value, modRevision: put.json.revision });
    const urlSafe = await call(leader.url, 'GET', '/v1/kv/-_8ALw?encoding=base64');
    expect(urlSafe.json).toMatchObject({ key, value });
    const page = await call(
      leader.url,
      'GET',
      `/v1/kv?encoding=base64&prefix=${encodeURIComponent(b64([0xfb, 0xff]))}`,
    );
    expect(page.json.items.map((i: { key: string }) => i.key)).toEqual([key]);
    // Read as UTF-8, the same bytes cannot be shown: 406 says to ask for base64.
    const text = await call(leader.url, 'GET', `/v1/kv/${encodeURIComponent(key)}`);
    expect(text.status).toBe(404); // "+/8ALw==" as text is another key
    await call(leader.url, 'PUT', '/v1/kv/not-utf8', new Uint8Array([0xff, 0xfe]));
    const notUtf8 = await call(leader.url, 'GET', '/v1/kv/not-utf8');
    expect(notUtf8.status).toBe(406);
    expect(notUtf8.json.code).toBe('ERR_NOT_UTF8');
    const asBase64 = `/v1/kv/${Buffer.from('not-utf8').toString('base64')}?encoding=base64`;
    expect((await call(leader.url, 'GET', asBase64)).json.value).toBe('//4=');
  });

  test('invalid base64 is refused with 400, never decoded leniently', async () => {
    const badKey = await call(leader.url, 'PUT', '/v1/kv/not*base64?encoding=base64', 'AAAA');
    expect(badKey.status).toBe(400);
    expect(badKey.json.code).toBe('ERR_BAD_KEY');
    expect(badKey.json.message).toMatch(/base64/);
    for (const body of ['abc$', 'QQ=', 'QR==', 'QUJDR', 'QUJD====']) {
      const bad = await call(leader.url, 'PUT', '/v1/kv/Ym9keQ?encoding=base64', body);
      expect(bad.status, body).toBe(400);
      expect(bad.json.code, body).toBe('ERR_BAD_VALUE');
    }
    const badPrefix = await call(leader.url, 'GET', '/v1/kv?encoding=base64&prefix=%25%25');
    expect(badPrefix.json.code).toBe('ERR_BAD_KEY');
    // The key is base64 too: "d3JhcHBlZA" is "wrapped".
    const wrapped = await call(leader.url, 'PUT', '/v1/kv/d3JhcHBlZA?encoding=base64', 'QUJD\nREVG\n');
    expect(wrapped.status).toBe(200);
    expect((await call(leader.url, 'GET', '/v1/kv/wrapped')).json.value).toBe('ABCDEF');
  });

  test('a request Node cannot parse gets a JSON 400 and the connection is closed', async () => {
    for (const request of [
      'BREW /v1/status HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n',
    ]) {
      const answer = await raw(leader.url, request);
      const [head, body] = answer.split('\r\n\r\n');
      expect(head).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(head).toMatch(/\r\nContent-Type: application\/json\r\n/);
      expect(head).toMatch(/\r\nConnection: close/);
      const json = JSON.parse(body!);
      expect(json.code).toBe('ERR_BAD_REQUEST');
      expect(json.message).toMatch(/not valid HTTP/);
    }
  });
});

describe('decodeBase64', () => {
  test('accepts canonical base64, padded or not, in either alphabet; nothing else', () => {
    expect(decodeBase64('')).toEqual(Buffer.alloc(0));
    expect(decodeBase64('QQ==')).toEqual(Buffer.from('A'));
    expect(decodeBase64('QQ')).toEqual(Buffer.from('A'));
    expect(decodeBase64('-_8')).toEqual(Buffer.from([0xfb, 0xff]));
    for (const bad of ['Q', 'QQ=', 'QR==', 'QUJD=', 'Q Q==', 'QQ==QQ==', 'é', '=']) {
      expect(decodeBase64(bad), bad).toBeUndefined();
    }
  });
});

describe('a node that knows no leader', () => {
  let cluster: Awaited<ReturnType<typeof startLocalKv>>;
  let lone: LocalKvNode;

  beforeAll(async () => {
    cluster = await startLocalKv({ start: ['1'] }); // one of three voters: no election can succeed
    lone = cluster.nodes[0]!;
  });

  afterAll(async () => {
    await cluster.stop();
  });

  test('a write is 503 ERR_NO_LEADER with Retry-After; a linearizable read 503 ERR_READ_UNAVAILABLE', async () => {
    const put = await call(lone.url, 'PUT', '/v1/kv/k', 'v');
    expect(put.status).toBe(503);
    expect(put.json.code).toBe('ERR_NO_LEADER');
    expect(put.headers.get('retry-after')).toBe('1');
    const get = await call(lone.url, 'GET', '/v1/kv/k');
    expect(get.status).toBe(503);
    expect(get.json.code).toBe('ERR_READ_UNAVAILABLE');
    expect(get.headers.get('retry-after')).toBe('1');
  });

  test('/readyz is 503 ERR_NOT_READY and /v1/status says leader null', async () => {
    const ready = await call(lone.url, 'GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.json).toMatchObject({ code: 'ERR_NOT_READY', message: 'no leader is known' });
    const s = await call(lone.url, 'GET', '/v1/status');
    expect(s.json.leader).toBeNull();
    expect(['follower', 'pre-candidate', 'candidate']).toContain(s.json.role);
  });
});

describe('a leader cut off from its followers', () => {
  let cluster: Awaited<ReturnType<typeof startLocalKv>>;

  beforeAll(async () => {
    // 2 s election timeout: the isolated leader keeps leading (CheckQuorum) through the test.
    cluster = await startLocalKv({ electionTicks: 200, proposalQueueMax: 1, writeTimeoutMs: 300 });
    cluster.nodes[0]!.node.campaign();
    await waitFor(() => cluster.nodes.every((n) => n.node.status().leader === '1'), 5000, 'node 1 to lead');
  });

  afterAll(async () => {
    await cluster.stop();
  });

  test('a full proposal queue is 503 ERR_OVERLOADED with Retry-After; a write never committed is 504 ERR_TIMEOUT', async () => {
    const leader = cluster.nodes[0]!;
    cluster.net.isolate('1');
    const stuck = call(leader.url, 'PUT', '/v1/kv/stuck', 'v', { 'Idempotency-Key': 'stuck-1' });
    await waitFor(() => leader.node.pendingProposals() === 1, 2000, 'the write to be proposed');
    const over = await call(leader.url, 'PUT', '/v1/kv/more', 'v');
    expect(over.status).toBe(503);
    expect(over.json.code).toBe('ERR_OVERLOADED');
    expect(over.headers.get('retry-after')).toBe('1');
    const timedOut = await stuck;
    expect(timedOut.status).toBe(504);
    expect(timedOut.json.code).toBe('ERR_TIMEOUT');
    expect(timedOut.json.message).toMatch(/same idempotency key/);
    expect(leader.node.isLeader()).toBe(true); // the refusals above came from a leader
  });
});
