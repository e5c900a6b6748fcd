import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FlotillaMetrics } from '../../src/server/metrics.js';
import { ROUTE_CLASSES, routeClassOf } from '../../src/server/route-class.js';
import { type LocalKvNode, settled, startLocalKv } from './local-kv.js';

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

interface Scrape {
  readonly types: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
}

// Prometheus parses values with Go's ParseFloat, which takes NaN in any case (prom-client writes "Nan").
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|[Nn]a[Nn]|\+Inf|-Inf)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses Prometheus text format 0.0.4 strictly enough to fail on anything malformed. */
function parseExposition(text: string): Scrape {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) continue;
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice('# TYPE '.length).split(' ');
      expect(['counter', 'gauge', 'histogram', 'summary', 'untyped']).toContain(type);
      expect(types.has(name!), `TYPE ${name} given twice`).toBe(false);
      types.set(name!, type!);
      continue;
    }
    const m = SAMPLE.exec(line);
    expect(m, `not a sample line: ${line}`).not.toBeNull();
    const labels: Record<string, string> = {};
    for (const l of (m![2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!;
    samples.push({ name: m![1]!, labels, value: Number(m![3]) });
  }
  return { types, samples };
}

function values(s: Scrape, name: string, labels: Record<string, string> = {}): number[] {
  return s.samples
    .filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))
    .map((x) => x.value);
}

/** The one sample of `name` (with `labels`); fails when there is none or more than one. */
function one(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const v = values(s, name, labels);
  expect(v, `${name}${JSON.stringify(labels)}`).toHaveLength(1);
  return v[0]!;
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(await res.text());
}

/** Histogram buckets are cumulative and end in +Inf = _count. */
function expectHistogram(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  expect(s.types.get(name)).toBe('histogram');
  const buckets = s.samples.filter(
    (x) => x.name === `${name}_bucket` && Object.entries(labels).every(([k, v]) => x.labels[k] === v),
  );
  expect(buckets.length).toBeGreaterThan(1);
  for (let k = 1; k < buckets.length; k++)
    expect(buckets[k]!.value).toBeGreaterThanOrEqual(buckets[k - 1]!.value);
  const count = one(s, `${name}_count`, labels);
  expect(buckets[buckets.length - 1]!.labels.le).toBe('+Inf');
  expect(buckets[buckets.length - 1]!.value).toBe(count);
  return count;
}

describe('GET /metrics on a three-node KV cluster with durable storage', () => {
  let root: string;
  let cluster: Awaited<ReturnType<typeof startLocalKv>>;
  let leader: LocalKvNode;
  let follower: LocalKvNode;
  const PUTS = 12;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'flotilla-metrics-'));
    cluster = await startLocalKv({ metrics: true, dataDir: root });
    ({ leader, follower } = await settled(cluster));
    for (let k = 0; k < PUTS; k++) {
      const via = k % 2 === 0 ? leader : follower;
      const res = await fetch(`${via.url}/v1/kv/m${k}`, { method: 'PUT', body: `v${k}` });
      expect(res.status).toBe(200);
    }
    for (const c of ['linearizable', 'linearizable', 'stale', 'stale', 'stale', 'lease']) {
      expect((await fetch(`${follower.url}/v1/kv/m1?consistency=${c}`)).status).toBe(200);
    }
    expect((await fetch(`${leader.url}/v1/kv/m1?consistency=log`)).status).toBe(200);
    expect((await fetch(`${leader.url}/v1/kv/m1`)).status).toBe(200);
    expect((await fetch(`${leader.url}/v1/kv?prefix=m`)).status).toBe(200);
    expect((await fetch(`${leader.url}/v1/kv/m0`, { method: 'DELETE' })).status).toBe(200);
    expect((await fetch(`${leader.url}/v1/kv/nope`)).status).toBe(404);
  });

  afterAll(async () => {
    await cluster.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test('every node answers with Prometheus text showing the Raft state: one leader, three voters', async () => {
    const scrapes = await Promise.all(cluster.nodes.map((n) => scrape(n.url)));
    expect(sum(scrapes.map((s) => one(s, 'flotilla_raft_is_leader')))).toBe(1);
    for (const [k, s] of scrapes.entries()) {
      expect(one(s, 'flotilla_node_info', { id: cluster.nodes[k]!.id })).toBe(1);
      expect(s.types.get('flotilla_raft_term')).toBe('gauge');
      expect(one(s, 'flotilla_raft_term')).toBeGreaterThanOrEqual(1);
      expect(one(s, 'flotilla_raft_has_leader')).toBe(1);
      expect(one(s, 'flotilla_raft_voters')).toBe(3);
      expect(one(s, 'flotilla_raft_learners')).toBe(0);
      expect(one(s, 'flotilla_raft_joint_config')).toBe(0);
      expect(one(s, 'flotilla_raft_leader_changes_seen_total')).toBeGreaterThanOrEqual(1);
      expect(one(s, 'flotilla_raft_commit_index')).toBeGreaterThanOrEqual(PUTS + 1);
      expect(one(s, 'flotilla_raft_applied_index')).toBeLessThanOrEqual(one(s, 'flotilla_raft_commit_index'));
      expect(one(s, 'flotilla_proposals_pending')).toBe(0);
    }
    const onLeader = scrapes[cluster.nodes.indexOf(leader)]!;
    // The leader reports each other member's lag (small: they are caught up); followers none.
    for (const n of cluster.nodes) {
      if (n === leader) continue;
      expect(one(onLeader, 'flotilla_raft_member_lag_entries', { member: n.id })).toBeLessThanOrEqual(PUTS);
    }
    for (const [k, s] of scrapes.entries()) {
      if (cluster.nodes[k] !== leader) expect(values(s, 'flotilla_raft_member_lag_entries')).toEqual([]);
    }
    expect(one(onLeader, 'flotilla_raft_read_index_rounds_total')).toBeGreaterThanOrEqual(1);
    expect(one(onLeader, 'flotilla_raft_read_index_reads_total')).toBeGreaterThanOrEqual(
      one(onLeader, 'flotilla_raft_read_index_rounds_total'),
    );
  });

  test('writes, reads and HTTP requests are counted: puts by route and code, reads by consistency', async () => {
    const scrapes = await Promise.all(cluster.nodes.map((n) => scrape(n.url)));
    const total = (name: string, labels: Record<string, string> = {}) =>
      sum(scrapes.flatMap((s) => values(s, name, labels)));
    // Each proposal is counted where it was asked for: the puts through the follower by the follower.
    expect(total('flotilla_proposals_committed_total')).toBeGreaterThanOrEqual(PUTS + 1);
    expect(total('flotilla_proposals_failed_total')).toBe(0);
    expect(total('flotilla_http_requests_total', { route: 'kv_put', code: '200' })).toBeGreaterThanOrEqual(
      PUTS,
    );
    expect(total('flotilla_http_requests_total', { route: 'kv_delete', code: '200' })).toBe(1);
    expect(total('flotilla_http_requests_total', { route: 'kv_range', code: '200' })).toBe(1);
    expect(total('flotilla_http_requests_total', { route: 'kv_get', code: '404' })).toBe(1);
    expect(total('flotilla_reads_total', { consistency: 'stale' })).toBe(3);
    expect(total('flotilla_reads_total', { consistency: 'log' })).toBe(1);
    // Two asked for, the lease read (leases are off) served as one, two GETs and the range.
    expect(total('flotilla_reads_total', { consistency: 'linearizable' })).toBe(6);
    expect(total('flotilla_reads_total', { consistency: 'lease' })).toBe(0);
    expect(total('flotilla_reads_failed_total')).toBe(0);
    for (const s of scrapes) {
      expect(s.types.get('flotilla_http_requests_total')).toBe('counter');
      for (const v of values(s, 'flotilla_http_requests_total')) expect(Number.isInteger(v)).toBe(true);
    }
    // The series of a route appears with its first request: here on the leader and the follower used.
    for (const n of [leader, follower]) {
      const s = scrapes[cluster.nodes.indexOf(n)]!;
      expect(expectHistogram(s, 'flotilla_http_request_duration_seconds', { route: 'kv_put' })).toBe(
        PUTS / 2,
      );
    }
  });

  test('the WAL fsync histogram and bytes written show the durable writes on every node', async () => {
    for (const n of cluster.nodes) {
      const s = await scrape(n.url);
      const fsyncs = expectHistogram(s, 'flotilla_wal_fsync_duration_seconds');
      expect(fsyncs).toBeGreaterThan(0);
      const seconds = one(s, 'flotilla_wal_fsync_duration_seconds_sum');
      expect(seconds).toBeGreaterThan(0);
      expect(seconds / fsyncs).toBeLessThan(1);
      expect(one(s, 'flotilla_wal_write_bytes_total')).toBeGreaterThan(PUTS * 20);
    }
  });

  test('Node.js process metrics come from prom-client under their standard names', async () => {
    const s = await scrape(cluster.nodes[0]!.url);
    expect(one(s, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(one(s, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(s.types.get('nodejs_eventloop_lag_seconds')).toBe('gauge');
  });

  test('/metrics allows GET and HEAD only', async () => {
    expect((await fetch(`${leader.url}/metrics`, { method: 'HEAD' })).status).toBe(200);
    const post = await fetch(`${leader.url}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(((await post.json()) as { code: string }).code).toBe('ERR_METHOD_NOT_ALLOWED');
  });
});

describe('GET /metrics without a leader', () => {
  test('a node that cannot reach a quorum still answers, and counts the reads and writes it refused', async () => {
    const cluster = await startLocalKv({ metrics: true, start: ['1'] });
    try {
      const [n] = cluster.nodes;
      expect((await fetch(`${n!.url}/v1/kv/a`, { method: 'PUT', body: 'x' })).status).toBeGreaterThanOrEqual(
        500,
      );
      expect((await fetch(`${n!.url}/v1/kv/a`)).status).toBeGreaterThanOrEqual(500);
      const s = await scrape(n!.url);
      expect(one(s, 'flotilla_raft_has_leader')).toBe(0);
      expect(one(s, 'flotilla_raft_is_leader')).toBe(0);
      expect(one(s, 'flotilla_proposals_failed_total', { code: 'ERR_NO_LEADER' })).toBe(1);
      expect(one(s, 'flotilla_reads_failed_total', { consistency: 'linearizable' })).toBe(1);
      expect(sum(values(s, 'flotilla_http_requests_total', { route: 'kv_put' }))).toBe(1);
      expect(values(s, 'flotilla_http_requests_total', { route: 'kv_put', code: '200' })).toEqual([]);
    } finally {
      await cluster.stop();
    }
  });
});

describe('FlotillaMetrics', () => {
  test('with no node watched it still renders, and counts what its hooks were told', async () => {
    const m = new FlotillaMetrics({ processMetrics: false });
    m.proposalFailed('ERR_OVERLOADED');
    m.proposalFailed('ERR_OVERLOADED');
    m.readServed('lease');
    m.walSynced(0.4, 512);
    m.walSynced(3, 100);
    m.httpRequest(ROUTE_CLASSES.indexOf('kv_get'), 200, 0.002);
    m.httpRequest(ROUTE_CLASSES.indexOf('kv_get'), 200, 0.004);
    const s = parseExposition((await m.exposition()).body);
    expect(one(s, 'flotilla_proposals_failed_total', { code: 'ERR_OVERLOADED' })).toBe(2);
    expect(one(s, 'flotilla_reads_total', { consistency: 'lease' })).toBe(1);
    expect(one(s, 'flotilla_wal_write_bytes_total')).toBe(612);
    expect(expectHistogram(s, 'flotilla_wal_fsync_duration_seconds')).toBe(2);
    expect(one(s, 'flotilla_wal_fsync_duration_seconds_bucket', { le: '0.0005' })).toBe(1);
    expect(one(s, 'flotilla_http_requests_total', { route: 'kv_get', code: '200' })).toBe(2);
    expect(expectHistogram(s, 'flotilla_http_request_duration_seconds', { route: 'kv_get' })).toBe(2);
    expect(values(s, 'process_cpu_user_seconds_total')).toEqual([]);
    // A counter copied in at scrape time is not doubled by a second scrape.
    const again = parseExposition((await m.exposition()).body);
    expect(one(again, 'flotilla_proposals_failed_total', { code: 'ERR_OVERLOADED' })).toBe(2);
  });

  test('failure codes are a bounded label: past 64 distinct codes the rest count as ERR_UNKNOWN', async () => {
    const m = new FlotillaMetrics({ processMetrics: false });
    for (let k = 0; k < 70; k++) m.proposalFailed(`ERR_CODE_${k}`);
    const s = parseExposition((await m.exposition()).body);
    expect(values(s, 'flotilla_proposals_failed_total')).toHaveLength(65);
    expect(one(s, 'flotilla_proposals_failed_total', { code: 'ERR_UNKNOWN' })).toBe(6);
  });

  test('requests are classed by route, never by key', () => {
    const cls = (method: string, url: string) => ROUTE_CLASSES[routeClassOf(method, url)];
    expect(cls('GET', '/v1/kv/a?consistency=stale')).toBe('kv_get');
    expect(cls('HEAD', '/v1/kv/a')).toBe('kv_get');
    expect(cls('PUT', '/v1/kv/a%2Fb')).toBe('kv_put');
    expect(cls('DELETE', '/v1/kv/a')).toBe('kv_delete');
    expect(cls('POST', '/v1/kv/a')).toBe('other');
    expect(cls('GET', '/v1/kv?prefix=a')).toBe('kv_range');
    expect(cls('GET', '/v1/kv/')).toBe('kv_range');
    expect(cls('POST', '/v1/members/4/promote')).toBe('members');
    expect(cls('GET', '/v1/status')).toBe('status');
    expect(cls('GET', '/readyz')).toBe('status');
    expect(cls('GET', '/metrics')).toBe('metrics');
    expect(cls('POST', '/v1/leader/transfer')).toBe('other');
    expect(cls('GET', '/nowhere')).toBe('other');
  });
});
