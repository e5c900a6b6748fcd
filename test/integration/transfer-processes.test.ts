import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FlotillaClient } from '../../src/client/client.js';
import { ProcessCluster, until } from './process-cluster.js';
import { writeLoad } from './write-load.js';

// Leadership transfer and a rolling restart on real processes, under a steady write load.
let cluster: ProcessCluster;
let client: FlotillaClient;

beforeAll(async () => {
  cluster = await ProcessCluster.create(3, 'transfer');
  await cluster.waitLeader(20_000);
  client = new FlotillaClient({
    endpoints: cluster.nodes.map((p) => p.clientUrl),
    timeoutMs: 2000,
    attempts: 30,
  });
}, 30_000);

afterAll(async () => {
  await cluster?.stop();
});

function loadOf(prefix: string) {
  return writeLoad(() => (k, v) => client.put(k, v), prefix);
}

async function expectAcked(acked: Map<string, string>): Promise<void> {
  for (const [k, v] of acked) expect((await client.get(k))?.value, k).toBe(v);
}

describe('leadership transfer on real processes', () => {
  test('to each node in turn under load: no acknowledged write lost; the longest write pause is reported', async () => {
    const load = loadOf('t');
    for (const p of cluster.nodes) {
      const before = load.writes();
      await until(() => load.writes() >= before + 50, 20_000, '50 writes between transfers');
      const leader = await client.transferLeadership(Number(p.id));
      expect(leader).toBe(Number(p.id));
      expect(await cluster.leader()).toBe(p.id);
    }
    const gap = await load.stop();
    console.log(
      `transfer to each of 3 nodes under load: ${load.writes()} writes, longest write pause ${gap.toFixed(0)} ms`,
    );
    await expectAcked(load.acked);
  }, 60_000);

  test('rolling restart, moving leadership away before stopping the leader: no acknowledged write lost', async () => {
    const load = loadOf('r');
    for (const p of cluster.nodes) {
      if ((await cluster.leader()) === p.id) await client.transferLeadership();
      await cluster.kill9(p.id);
      cluster.start(p.id);
      await until(
        async () =>
          (await cluster.status(p.id))?.leader !== null && (await cluster.status(p.id)) !== undefined,
        20_000,
        `node ${p.id} back`,
      );
    }
    const gap = await load.stop();
    console.log(`rolling restart of 3 nodes under load: longest write pause ${gap.toFixed(0)} ms`);
    await expectAcked(load.acked);
  }, 90_000);

  test('a leader stopped with SIGTERM hands leadership over before it exits; writes go on', async () => {
    const old = (await cluster.waitLeader(20_000))!;
    await client.put('before-sigterm', 'x');
    await cluster.terminate(old);
    expect(cluster.node(old).stderr).toMatch(/handed leadership to node \d before stopping/);
    const next = await cluster.waitLeader(5_000);
    expect(next).not.toBe(old);
    await client.put('after-sigterm', 'y');
    expect((await client.get('before-sigterm'))?.value).toBe('x');
    cluster.start(old);
    await until(async () => (await cluster.status(old))?.leader !== undefined, 20_000, `node ${old} back`);
  }, 60_000);
});
