import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { Prng } from '../../src/sim/prng.js';
import { FaultLog } from './fault-log.js';
import { classify, sendKv } from './kv-http.js';
import { NemesisCluster, sleep } from './nemesis-cluster.js';

// Regression test for what the nemesis found with seed 3 (lossy-slow-links), fixed in 356328f: a
// put answered 503 ERR_NO_LEADER — which docs/api.md says was never proposed — was read back a
// moment later. This pins the mechanism down without randomness: a follower forwards a write, the
// leader applies it, the reply is lost with the follower's connection to the leader.
let cluster: NemesisCluster | undefined;
const root = mkdtempSync(join(tmpdir(), 'flotilla-forward-'));

afterAll(async () => {
  await cluster?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function staleValue(url: string, key: string): Promise<string | undefined> {
  const a = await sendKv(url, { f: 'get', key, consistency: 'stale' }, 1000);
  const c = classify('get', a);
  return c.type === 'ok' && typeof c.value === 'string' ? c.value : undefined;
}

test('a forwarded write applied by the leader whose reply is lost is not answered "never proposed"', async () => {
  cluster = await NemesisCluster.create({
    nodes: 3,
    root,
    clusterId: 'forward',
    electionTimeoutMs: 400,
    heartbeatIntervalMs: 50,
    snapshotEntries: 1000,
    leaseReads: false,
    rng: new Prng(1),
    faults: new FaultLog(),
  });
  const leader = await cluster.waitLeader(20_000);
  expect(leader).toBeDefined();
  const l = leader!.id;
  const f = cluster.ids.find((id) => id !== l)!;
  // Warm the follower's connection to the leader, then hold what the leader sends back on it.
  const warm = classify(
    'put',
    await sendKv(cluster.node(f).clientUrl, { f: 'put', key: 'warm', value: 'w' }, 5000),
  );
  expect(warm.type).toBe('ok');
  cluster.link(f, l).holdReplies(true);
  const answer = sendKv(cluster.node(f).clientUrl, { f: 'put', key: 'lost-reply', value: 'x' }, 10_000);
  let applied = false;
  for (let k = 0; k < 75 && !applied; k++) {
    applied = (await staleValue(cluster.node(l).clientUrl, 'lost-reply')) === 'x';
    if (!applied) await sleep(20);
  }
  expect(applied, 'the leader applied the forwarded write').toBe(true);
  // The connection is lost before the reply gets through (within the follower's 2 s write timeout).
  cluster.link(f, l).cut('reset');
  const got = await answer;
  cluster.link(f, l).heal(false);
  cluster.link(f, l).holdReplies(false);
  // docs/api.md: 503 ERR_NO_LEADER means "never proposed"; a write that may have applied is a 504.
  expect(got, JSON.stringify(got)).not.toMatchObject({ status: 503 });
  expect(classify('put', got).type).not.toBe('fail');
}, 60_000);
