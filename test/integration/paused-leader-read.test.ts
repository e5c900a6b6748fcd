import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FlotillaClient } from '../../src/client/client.js';
import { ProcessCluster, until } from './process-cluster.js';

// Issue 5's real-process proof: SIGSTOP the leader, let the others elect a new leader and
// overwrite a key, SIGCONT the old leader and read the key from it at once.
let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.create(3, 'paused', ['--lease-reads']);
  await cluster.waitLeader(20_000);
}, 30_000);

afterAll(async () => {
  await cluster?.stop();
});

async function readAt(
  url: string,
  key: string,
  consistency: string,
): Promise<{ status: number; value?: string }> {
  try {
    const r = await fetch(`${url}/v1/kv/${key}?consistency=${consistency}`, {
      signal: AbortSignal.timeout(8000),
    });
    const body = (await r.json()) as { value?: string };
    return { status: r.status, ...(body.value === undefined ? {} : { value: body.value }) };
  } catch {
    return { status: 0 };
  }
}

describe('a paused leader resumes and is read from at once', () => {
  for (const consistency of ['linearizable', 'lease'] as const) {
    test(`a ${consistency} read at the resumed old leader never returns the overwritten value`, async () => {
      const client = new FlotillaClient({ endpoints: cluster.endpoints(), attempts: 20 });
      const key = `paused-${consistency}`;
      await client.put(key, 'old');
      const old = await cluster.waitLeader();
      // The old leader serves the key (and, with leases, holds a lease) before the pause.
      expect((await readAt(cluster.node(old).clientUrl, key, consistency)).value).toBe('old');
      cluster.pause(old);
      try {
        const next = await cluster.waitLeader(15_000, old);
        const writer = new FlotillaClient({ endpoints: [cluster.node(next).clientUrl], attempts: 20 });
        await writer.put(key, 'new');
      } finally {
        cluster.resume(old);
      }
      const r = await readAt(cluster.node(old).clientUrl, key, consistency);
      // Either refused (503: it cannot confirm it leads) or the new value; never the old one.
      expect(r.value).not.toBe('old');
      if (r.status === 200) expect(r.value).toBe('new');
      await until(
        async () => (await readAt(cluster.node(old).clientUrl, key, 'stale')).value === 'new',
        10_000,
        'catch-up',
      );
    }, 60_000);
  }
});
