import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type LocalKvNode, settled, startLocalKv } from './local-kv.js';

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

async function call(
  base: string,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${base}${path}`, { method, body, headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text === '' ? undefined : JSON.parse(text) };
}

describe('the HTTP API (docs/api.md)', () => {
  test('PUT then GET returns the value with its revisions and an ETag; works through a follower too', async () => {
    const put = await call(follower.url, 'PUT', '/v1/kv/greeting', 'hello');
    expect(put.status).toBe(200);
    expect(put.json).toEqual({ key: 'greeting', revision: expect.any(Number) });
    const got = await call(follower.url, 'GET', '/v1/kv/greeting');
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({
      key: 'greeting',
      value: 'hello',
      createRevision: put.json.revision,
      modRevision: put.json.revision,
      version: 1,
      consistency: 'linearizable',
    });
    expect(got.headers.get('etag')).toBe(`"${put.json.revision}"`);
  });

  test('GET of a missing key is 404 ERR_KEY_NOT_FOUND', async () => {
    const got = await call(leader.url, 'GET', '/v1/kv/nope');
    expect(got.status).toBe(404);
    expect(got.json.code).toBe('ERR_KEY_NOT_FOUND');
  });

  test('If-Match compares modRevision (bare or quoted); a failed condition is 412 with the current value', async () => {
    const first = await call(leader.url, 'PUT', '/v1/kv/cas', 'v1');
    const ok = await call(leader.url, 'PUT', '/v1/kv/cas', 'v2', { 'If-Match': `"${first.json.revision}"` });
    expect(ok.status).toBe(200);
    const stale = await call(leader.url, 'PUT', '/v1/kv/cas', 'v3', {
      'If-Match': String(first.json.revision),
    });
    expect(stale.status).toBe(412);
    expect(stale.json.code).toBe('ERR_CONDITION_FAILED');
    expect(stale.json.current.value).toBe('v2');
    const missing = await call(leader.url, 'PUT', '/v1/kv/cas-missing', 'x', { 'If-Match': '1' });
    expect(missing.status).toBe(412);
  });

  test('If-None-Match: * creates only', async () => {
    expect((await call(leader.url, 'PUT', '/v1/kv/once', 'a', { 'If-None-Match': '*' })).status).toBe(200);
    const again = await call(leader.url, 'PUT', '/v1/kv/once', 'b', { 'If-None-Match': '*' });
    expect(again.status).toBe(412);
    expect(again.json.current.value).toBe('a');
  });

  test('DELETE reports whether a key was deleted', async () => {
    await call(leader.url, 'PUT', '/v1/kv/gone', 'x');
    const del = await call(leader.url, 'DELETE', '/v1/kv/gone');
    expect(del.json).toEqual({ deleted: 1, revision: expect.any(Number) });
    const again = await call(leader.url, 'DELETE', '/v1/kv/gone');
    expect(again.json.deleted).toBe(0);
  });

  test('a retry with the same Idempotency-Key is applied once and returns the original revision', async () => {
    const h = { 'Idempotency-Key': 'req-123' };
    const a = await call(leader.url, 'PUT', '/v1/kv/idem', 'first', h);
    const b = await call(follower.url, 'PUT', '/v1/kv/idem', 'first', h);
    expect(b.json.revision).toBe(a.json.revision);
    const got = await call(leader.url, 'GET', '/v1/kv/idem');
    expect(got.json.version).toBe(1);
  });

  test('range by prefix with limit says whether there is more', async () => {
    for (const k of ['r/a', 'r/b', 'r/c'])
      await call(leader.url, 'PUT', `/v1/kv/${encodeURIComponent(k)}`, k);
    const page = await call(leader.url, 'GET', '/v1/kv?prefix=r%2F&limit=2');
    expect(page.status).toBe(200);
    expect(page.json.items.map((i: { key: string }) => i.key)).toEqual(['r/a', 'r/b']);
    expect(page.json.more).toBe(true);
  });

  test('binary values round-trip with ?encoding=base64', async () => {
    const value = Buffer.from([0, 255, 1, 254]).toString('base64');
    // The key is base64 too ("Ymlu" is "bin"); "bin" itself is not valid base64 (stray bits).
    expect((await call(leader.url, 'PUT', '/v1/kv/Ymlu?encoding=base64', value)).status).toBe(200);
    const got = await call(leader.url, 'GET', '/v1/kv/Ymlu?encoding=base64');
    expect(got.json.value).toBe(value);
    expect((await call(leader.url, 'GET', '/v1/kv/bin?encoding=base64')).json.code).toBe('ERR_BAD_KEY');
  });

  test('bad input gets a clear 4xx: oversized value, oversized key, bad If-Match, bad consistency', async () => {
    const big = await call(leader.url, 'PUT', '/v1/kv/big', 'x'.repeat((1 << 20) + 1));
    expect(big.status).toBe(413);
    expect(big.json.code).toBe('ERR_TOO_LARGE');
    const longKey = await call(leader.url, 'PUT', `/v1/kv/${'k'.repeat(5000)}`, 'v');
    expect(longKey.status).toBe(400);
    expect(longKey.json.code).toBe('ERR_BAD_KEY');
    const badMatch = await call(leader.url, 'PUT', '/v1/kv/x', 'v', { 'If-Match': 'abc' });
    expect(badMatch.status).toBe(400);
    const badConsistency = await call(leader.url, 'GET', '/v1/kv/x?consistency=maybe');
    expect(badConsistency.status).toBe(400);
    const route = await call(leader.url, 'GET', '/nowhere');
    expect(route.status).toBe(404);
  });

  test('/v1/status, /healthz and /readyz', async () => {
    const s = await call(leader.url, 'GET', '/v1/status');
    expect(s.json).toMatchObject({ id: Number(leader.id), role: 'leader', leader: Number(leader.id) });
    expect(s.json.members).toHaveLength(3);
    expect((await call(follower.url, 'GET', '/healthz')).status).toBe(200);
    expect((await call(follower.url, 'GET', '/readyz')).status).toBe(200);
  });

  test('a stale read is explicit and says so', async () => {
    const got = await call(follower.url, 'GET', '/v1/kv/greeting?consistency=stale');
    expect(got.json.consistency).toBe('stale');
    expect(got.headers.get('x-flotilla-consistency')).toBe('stale');
  });
});
