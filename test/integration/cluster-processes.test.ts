import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FlotillaClient } from '../../src/client/client.js';
import { ProcessCluster, until } from './process-cluster.js';

// Real `flotilla serve` processes on loopback: kill -9, restart from the data folder, bad input.
let cluster: ProcessCluster;
let client: FlotillaClient;

beforeAll(async () => {
  cluster = await ProcessCluster.create(3);
  await cluster.waitLeader(20_000);
  client = new FlotillaClient({
    endpoints: cluster.nodes.map((p) => p.clientUrl),
    timeoutMs: 3000,
    attempts: 10,
  });
}, 30_000);

afterAll(async () => {
  await cluster?.stop();
});

async function writeKeys(prefix: string, n: number, acked: Map<string, string>): Promise<void> {
  const workers = 16;
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < n) {
        const k = next++;
        const key = `${prefix}${k}`;
        const value = `v${k}-${prefix}`;
        await client.put(key, value);
        acked.set(key, value);
      }
    }),
  );
}

async function expectAllReadable(acked: Map<string, string>): Promise<void> {
  const page = await client.range('', { limit: 10_000 });
  const got = new Map(page.items.map((i) => [i.key, i.value]));
  for (const [k, v] of acked) expect(got.get(k), k).toBe(v);
}

describe('a 3-node cluster of real processes', () => {
  test('kill -9 the leader, then a follower: no acknowledged write is lost and the killed node catches up', async () => {
    const acked = new Map<string, string>();
    await writeKeys('a/', 1000, acked);
    for (const victimRole of ['leader', 'follower'] as const) {
      const leader = await cluster.waitLeader();
      const victim = victimRole === 'leader' ? leader : cluster.nodes.find((p) => p.id !== leader)!.id;
      await cluster.kill9(victim);
      const newLeader = victimRole === 'leader' ? await cluster.waitLeader(15_000, victim) : leader;
      expect(newLeader).not.toBe(victim);
      await writeKeys(`${victimRole}/`, 200, acked);
      await expectAllReadable(acked);
      // The killed node restarts from its data folder and catches up to the others.
      cluster.start(victim);
      const target = (await cluster.status(newLeader))?.commitIndex as number;
      await until(
        async () => (((await cluster.status(victim))?.appliedIndex as number | undefined) ?? 0) >= target,
        20_000,
        `node ${victim} to catch up to ${target}`,
      );
      // Every acknowledged key, read from the restarted node's own state machine (stale: no
      // leader is asked), holds its last value.
      const local = await fetch(
        `${cluster.node(victim).clientUrl}/v1/kv?prefix=&limit=10000&consistency=stale`,
      );
      const items = ((await local.json()) as { items: { key: string; value: string }[] }).items;
      const there = new Map(items.map((i) => [i.key, i.value]));
      for (const [k, v] of acked) expect(there.get(k), `${k} on the restarted node ${victim}`).toBe(v);
    }
  }, 120_000);

  test('a write retried with the same Idempotency-Key after a leader change is applied once', async () => {
    const key = 'idem/once';
    const first = await client.put(key, 'x', { idempotencyKey: 'retry-me' });
    const leader = await cluster.waitLeader();
    await cluster.kill9(leader);
    await cluster.waitLeader(15_000, leader);
    const again = await client.put(key, 'x', { idempotencyKey: 'retry-me' });
    expect(again.revision).toBe(first.revision);
    const kv = await client.get(key);
    expect(kv?.version).toBe(1);
    cluster.start(leader);
    await until(async () => (await cluster.status(leader)) !== undefined, 15_000, 'the node to come back');
  }, 60_000);

  test('bad input: garbage on the peer port, a wrong cluster id, an oversized value, a malformed key', async () => {
    const p = cluster.nodes[0]!;
    // Garbage bytes on the peer port: the node closes that connection itself and keeps serving.
    const closedByNode = await new Promise<boolean>((resolve) => {
      const s = connect(p.peerPort, '127.0.0.1', () =>
        s.write(Buffer.from('GET / HTTP/1.1\r\n\r\n\x00\xff\xff\xff\xff')),
      );
      const timer = setTimeout(() => {
        resolve(false);
        s.destroy();
      }, 3000);
      s.on('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
      s.on('error', () => {});
    });
    expect(closedByNode).toBe(true);
    // A node of another cluster is refused, never joined.
    const { TcpTransport } = await import('../../src/transport/tcp-transport.js');
    const stranger = new TcpTransport({
      clusterId: 'not-itest',
      id: '2',
      listen: { host: '127.0.0.1', port: 0 },
      peers: new Map([['1', { host: '127.0.0.1', port: p.peerPort }]]),
    });
    await stranger.start();
    stranger.send([
      { type: 'heartbeat', from: '2', to: '1', term: 999 as never, commit: 0 as never, context: 0 },
    ]);
    await until(() => p.stderr.includes('wrong cluster id "not-itest"'), 5000, 'the refusal to be logged');
    await stranger.stop();
    const s = await cluster.status('1');
    expect(s?.term as number).toBeLessThan(999);
    // Oversized value and malformed key get their clear HTTP errors.
    const big = await fetch(`${p.clientUrl}/v1/kv/big`, { method: 'PUT', body: 'x'.repeat((1 << 20) + 10) });
    expect(big.status).toBe(413);
    const badKey = await fetch(`${p.clientUrl}/v1/kv/%E0%A4%A`, { method: 'PUT', body: 'v' });
    expect(badKey.status).toBe(400);
    // And the cluster still serves.
    await client.put('still/alive', 'yes');
    expect((await client.get('still/alive'))?.value).toBe('yes');
  }, 60_000);
});
