// FlotillaClient (src/client/client.ts): finding and following the leader, retries that keep their
// Idempotency-Key, and one error class per outcome. Against fake nodes (node:http on 127.0.0.1,
// each answering /v1/status as told) and, at the end, an in-process cluster.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import {
  ClusterUnavailableError,
  ConditionFailedError,
  FlotillaApiError,
  FlotillaClient,
  NoLeaderError,
  OverloadedError,
  TimeoutError,
} from '../../src/client/client.js';
import { waitFor } from '../node/helpers.js';
import { settled, startLocalKv } from '../server/local-kv.js';

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly idempotencyKey: string | undefined;
}

type KvHandler = (req: IncomingMessage, res: ServerResponse, attempt: number) => void;

function reply(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

const ok: KvHandler = (req, res) => reply(res, 200, { key: req.url, revision: 7 });

/** A node as the client sees it: /v1/status as set here, /v1/kv answered by `kv`. */
class FakeNode {
  readonly seen: Seen[] = [];
  role: 'leader' | 'follower' = 'follower';
  term = 1;
  leader: number | null = null;
  kv: KvHandler = ok;
  url = '';
  private server: Server | undefined;

  constructor(readonly id: number) {}

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const idem = req.headers['idempotency-key'];
      this.seen.push({
        method: req.method ?? '',
        path: req.url ?? '',
        idempotencyKey: typeof idem === 'string' ? idem : undefined,
      });
      req.resume();
      req.on('end', () => {
        if (req.url === '/v1/status') {
          reply(res, 200, {
            id: this.id,
            role: this.role,
            term: this.term,
            leader: this.leader,
            commitIndex: 1,
            appliedIndex: 1,
            members: [],
          });
          return;
        }
        this.kv(req, res, this.writes().length);
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  /** The PUT and DELETE requests it received, in order. */
  writes(): Seen[] {
    return this.seen.filter((s) => s.method === 'PUT' || s.method === 'DELETE');
  }

  statusAsked(): number {
    return this.seen.filter((s) => s.path === '/v1/status').length;
  }

  lead(term: number): void {
    this.role = 'leader';
    this.term = term;
    this.leader = this.id;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const started: FakeNode[] = [];

/** Three fake nodes 1, 2, 3; node 3 leads (listed last, so "the first that answers" is wrong). */
async function fakeCluster(): Promise<[FakeNode, FakeNode, FakeNode]> {
  const nodes = await Promise.all([1, 2, 3].map((id) => new FakeNode(id).start()));
  started.push(...nodes);
  nodes[2]!.lead(1);
  for (const n of nodes.slice(0, 2)) n.leader = 3;
  return nodes as [FakeNode, FakeNode, FakeNode];
}

function clientOf(
  nodes: readonly FakeNode[],
  extra: { timeoutMs?: number; attempts?: number; leaderCheckMs?: number } = {},
) {
  return new FlotillaClient({ endpoints: nodes.map((n) => n.url), ...extra });
}

/** A URL where nothing listens: a port that was free a moment ago. */
async function deadEndpoint(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((n) => n.stop()));
});

describe('finding and following the leader', () => {
  test('the first write finds the leader with /v1/status; the second goes straight to it', async () => {
    const [f1, f2, leader] = await fakeCluster();
    const client = clientOf([f1, f2, leader]);
    await client.put('a', '1');
    await client.put('b', '2');
    expect(leader.writes().map((w) => w.path)).toEqual(['/v1/kv/a', '/v1/kv/b']);
    expect([...f1.writes(), ...f2.writes()]).toEqual([]);
    // One discovery round: every endpoint asked once, none asked again for the second write.
    expect([f1, f2, leader].map((n) => n.statusAsked())).toEqual([1, 1, 1]);
    expect(client.leaderEndpoint).toBe(leader.url);
  });

  test('a 503 that names the new leader moves the client there at once, with the same key', async () => {
    const [f1, f2, old] = await fakeCluster();
    const client = clientOf([f1, f2, old]);
    await client.put('a', '1');
    // Leadership moves to node 1; the old leader answers writes with 503 and names it.
    old.role = 'follower';
    old.leader = 1;
    f1.lead(2);
    old.kv = (_req, res) => reply(res, 503, { code: 'ERR_NO_LEADER', message: 'not the leader', leader: 1 });
    await client.put('b', '2', { idempotencyKey: 'k-b' });
    expect(old.writes().at(-1)).toMatchObject({ path: '/v1/kv/b', idempotencyKey: 'k-b' });
    expect(f1.writes()).toEqual([{ method: 'PUT', path: '/v1/kv/b', idempotencyKey: 'k-b' }]);
    expect(client.leaderEndpoint).toBe(f1.url);
    await client.put('c', '3');
    expect(f1.writes().map((w) => w.path)).toEqual(['/v1/kv/b', '/v1/kv/c']);
    expect([f1, f2, old].map((n) => n.statusAsked())).toEqual([1, 1, 1]); // no new discovery
  });

  test('the background check notices a deposed leader that forwards writes without a word', async () => {
    const [f1, f2, old] = await fakeCluster();
    const client = clientOf([f1, f2, old], { leaderCheckMs: 20 });
    await client.put('a', '1');
    old.role = 'follower';
    old.leader = 2;
    f2.lead(2);
    await new Promise((r) => setTimeout(r, 30));
    await client.put('b', '2'); // still to the old leader (it forwards); asks it in the background
    await waitFor(() => client.leaderEndpoint === f2.url, 2000, 'the client to follow node 2');
    await client.put('c', '3');
    expect(old.writes().map((w) => w.path)).toEqual(['/v1/kv/a', '/v1/kv/b']);
    expect(f2.writes().map((w) => w.path)).toEqual(['/v1/kv/c']);
  });

  test('a leader that stops answering is forgotten and found again among the others', async () => {
    const [f1, f2, old] = await fakeCluster();
    const client = clientOf([f1, f2, old]);
    await client.put('a', '1');
    await old.stop();
    f1.role = 'follower';
    f2.lead(2);
    f1.leader = 2;
    await client.put('b', '2', { idempotencyKey: 'k-b' });
    expect(f2.writes()).toEqual([{ method: 'PUT', path: '/v1/kv/b', idempotencyKey: 'k-b' }]);
    expect(client.leaderEndpoint).toBe(f2.url);
  });
});

describe('retries keep the Idempotency-Key', () => {
  test('after a 504 (outcome unknown) the write is sent again with the same key', async () => {
    const [f1, f2, leader] = await fakeCluster();
    leader.kv = (req, res, attempt) =>
      attempt === 1
        ? reply(res, 504, { code: 'ERR_TIMEOUT', message: 'not applied in time' })
        : ok(req, res, attempt);
    const client = clientOf([f1, f2, leader]);
    expect(await client.put('a', '1')).toEqual({ key: '/v1/kv/a', revision: 7 });
    const keys = leader.writes().map((w) => w.idempotencyKey);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
  });

  test('after a connection reset the write is sent again with the same key, the caller\u2019s own key too', async () => {
    const [f1, f2, leader] = await fakeCluster();
    leader.kv = (req, res, attempt) => (attempt % 2 === 1 ? req.socket.destroy() : ok(req, res, attempt));
    const client = clientOf([f1, f2, leader]);
    await client.put('a', '1');
    await client.delete('a', { idempotencyKey: 'mine' });
    const keys = leader.writes().map((w) => w.idempotencyKey);
    expect(keys).toHaveLength(4);
    expect(keys[1]).toBe(keys[0]);
    expect(keys.slice(2)).toEqual(['mine', 'mine']);
  });

  test('a write that gets no answer in time is tried again with the same key, then ClusterUnavailableError', async () => {
    const [f1, f2, leader] = await fakeCluster();
    leader.kv = () => {}; // never answers
    const client = clientOf([f1, f2, leader], { timeoutMs: 150, attempts: 2 });
    const began = performance.now();
    const err = await client.put('a', '1').catch((e: unknown) => e);
    expect(performance.now() - began).toBeLessThan(3000);
    expect(err).toBeInstanceOf(ClusterUnavailableError);
    expect(err).toBeInstanceOf(FlotillaApiError);
    expect(err).toMatchObject({ code: 'ERR_UNAVAILABLE', status: 0 });
    expect((err as ClusterUnavailableError).lastError?.name).toBe('TimeoutError');
    const keys = leader.writes().map((w) => w.idempotencyKey);
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
  });
});

describe('typed errors', () => {
  test('ConditionFailedError carries the key as it is, and is not retried', async () => {
    const [f1, f2, leader] = await fakeCluster();
    const current = { key: 'a', value: 'now', createRevision: 2, modRevision: 5, version: 3 };
    leader.kv = (_req, res) =>
      reply(res, 412, { code: 'ERR_CONDITION_FAILED', message: 'the condition did not hold', current });
    const client = clientOf([f1, f2, leader]);
    const err = await client.put('a', 'x', { ifModRevision: 4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConditionFailedError);
    expect(err).toBeInstanceOf(FlotillaApiError);
    expect(err).toMatchObject({ code: 'ERR_CONDITION_FAILED', status: 412 });
    expect((err as ConditionFailedError).current).toEqual(current);
    expect(leader.writes()).toHaveLength(1);
    leader.kv = (_req, res) =>
      reply(res, 412, { code: 'ERR_CONDITION_FAILED', message: 'absent', current: null });
    const absent = await client.put('a', 'x', { ifModRevision: 4 }).catch((e: unknown) => e);
    expect((absent as ConditionFailedError).current).toBeUndefined();
  });

  test('ClusterUnavailableError when no endpoint accepts a connection', async () => {
    const client = new FlotillaClient({
      endpoints: [await deadEndpoint(), await deadEndpoint()],
      attempts: 3,
    });
    const err = await client.put('a', '1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClusterUnavailableError);
    expect(err).toMatchObject({ code: 'ERR_UNAVAILABLE', status: 0 });
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
    expect(client.leaderEndpoint).toBeUndefined();
  });

  test('when attempts run out: the last refusal as its own class, or TimeoutError once one may have applied', async () => {
    const [f1, f2, leader] = await fakeCluster();
    const client = clientOf([f1, f2, leader], { attempts: 3 });

    leader.kv = (_req, res) => reply(res, 503, { code: 'ERR_OVERLOADED', message: 'queue full' });
    const overloaded = await client.put('a', '1').catch((e: unknown) => e);
    expect(overloaded).toBeInstanceOf(OverloadedError);
    expect(overloaded).toMatchObject({ code: 'ERR_OVERLOADED', status: 503 });
    // Overloaded is not gone: every attempt went to the leader, found once.
    expect(leader.writes()).toHaveLength(3);
    expect(leader.statusAsked()).toBe(1);

    leader.kv = (_req, res) => reply(res, 504, { code: 'ERR_TIMEOUT', message: 'outcome unknown' });
    const timeout = await client.put('a', '1').catch((e: unknown) => e);
    expect(timeout).toBeInstanceOf(TimeoutError);
    expect(timeout).toMatchObject({ code: 'ERR_TIMEOUT', status: 504 });

    // A 504 then refusals: the write may have been applied, so the outcome stays unknown.
    const before = leader.writes().length;
    leader.kv = (_req, res, attempt) =>
      attempt === before + 1
        ? reply(res, 504, { code: 'ERR_TIMEOUT', message: 'outcome unknown' })
        : reply(res, 503, { code: 'ERR_TRANSFER_IN_PROGRESS', message: 'moving' });
    expect(await client.put('a', '1').catch((e: unknown) => e)).toBeInstanceOf(TimeoutError);
    expect(leader.writes()).toHaveLength(before + 3);

    for (const n of [f1, f2, leader]) {
      n.role = 'follower';
      n.leader = null;
      n.kv = (_req, res) => reply(res, 503, { code: 'ERR_NO_LEADER', message: 'no leader' });
    }
    const noLeader = await client.put('a', '1').catch((e: unknown) => e);
    expect(noLeader).toBeInstanceOf(NoLeaderError);
    expect(noLeader).toMatchObject({ code: 'ERR_NO_LEADER', status: 503 });
    expect((noLeader as NoLeaderError).leader).toBeUndefined();
  });

  test('a missing key reads as undefined; a bad request is a FlotillaApiError with its code, not retried', async () => {
    const [f1, f2, leader] = await fakeCluster();
    leader.kv = (req, res) =>
      req.method === 'GET'
        ? reply(res, 404, { code: 'ERR_KEY_NOT_FOUND', message: 'no such key' })
        : reply(res, 413, { code: 'ERR_TOO_LARGE', message: 'too large' });
    const client = clientOf([f1, f2, leader]);
    expect(await client.get('nope')).toBeUndefined();
    const err = await client.put('a', 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlotillaApiError);
    expect(err).toMatchObject({ code: 'ERR_TOO_LARGE', status: 413 });
    expect(leader.writes()).toHaveLength(1);
  });
});

describe('against an in-process cluster', () => {
  test('writes go to the leader even when a follower is listed first; conditions fail typed', async () => {
    const cluster = await startLocalKv({ metrics: true });
    try {
      const { leader, follower } = await settled(cluster);
      const client = new FlotillaClient({ endpoints: [follower.url, leader.url] });
      const first = await client.put('k', 'v1');
      await client.put('k', 'v2');
      expect(client.leaderEndpoint).toBe(leader.url);
      const puts = async (n: typeof leader) =>
        /flotilla_http_requests_total\{[^}]*route="kv_put"[^}]*\} (\d+)/.exec(
          (await n.metrics!.exposition()).body,
        )?.[1] ?? '0';
      expect(await puts(leader)).toBe('2');
      expect(await puts(follower)).toBe('0');
      const err = await client.put('k', 'v3', { ifModRevision: first.revision }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConditionFailedError);
      expect((err as ConditionFailedError).current).toMatchObject({ key: 'k', value: 'v2' });
      // After a transfer the client follows the new leader without asking around.
      const to = await client.transferLeadership(Number(follower.id));
      expect(to).toBe(Number(follower.id));
      expect(client.leaderEndpoint).toBe(follower.url);
      expect((await client.get('k'))?.value).toBe('v2');
    } finally {
      await cluster.stop();
    }
  });
});
