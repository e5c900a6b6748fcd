// GET /v1/status on a learner says `role: "learner"` (docs/api.md, docs/membership.md).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { KvStore } from '../../src/kv/kv-store.js';
import { decodeResult, encodeResult } from '../../src/kv/result-codec.js';
import type { KvResult } from '../../src/kv/types.js';
import { RaftNode } from '../../src/node/raft-node.js';
import { HttpServer } from '../../src/server/http-server.js';
import { KvService } from '../../src/server/kv-service.js';
import { MemoryNodeStorage } from '../../src/storage/node-storage.js';
import { waitFor } from '../node/helpers.js';
import { type LocalKvNode, settled, startLocalKv } from './local-kv.js';

let cluster: Awaited<ReturnType<typeof startLocalKv>>;
let leader: LocalKvNode;
let follower: LocalKvNode;
let learner: { node: RaftNode<KvResult>; server: HttpServer; url: string };

beforeAll(async () => {
  cluster = await startLocalKv();
  ({ leader, follower } = await settled(cluster));
  await leader.node.propose(new TextEncoder().encode('warm-up')); // an entry of the leader's term has committed
  // Node 4 starts empty, with no voters, as `serve --join` does: the leader's log tells it the rest.
  const store = new KvStore();
  const node = new RaftNode<KvResult>({
    id: '4',
    voters: [],
    stateMachine: store,
    resultCodec: { encode: encodeResult, decode: decodeResult },
    storage: new MemoryNodeStorage(),
    transport: cluster.net.transport('4'),
    tickMs: 10,
  });
  const service = new KvService(node, store, { valueBytesMax: 1 << 20, writeTimeoutMs: 2000 });
  const server = new HttpServer({ service, valueBytesMax: 1 << 20, host: '127.0.0.1', port: 0 });
  await node.start();
  learner = { node, server, url: `http://127.0.0.1:${(await server.start()).port}` };
  await leader.node.changeMembership({ type: 'add', id: '4', address: 'local:4', learner: true });
  await waitFor(
    () => node.members().members.some((m) => m.id === '4' && m.role === 'learner'),
    5000,
    'node 4 to learn it is a learner',
  );
});

afterAll(async () => {
  await learner.server.stop();
  await learner.node.stop();
  await cluster.stop();
});

async function status(url: string) {
  const res = await fetch(`${url}/v1/status`);
  return (await res.json()) as { id: number; role: string; leader: number | null; members: unknown[] };
}

describe('/v1/status role', () => {
  test('a learner reports role "learner"; the voters report leader and follower', async () => {
    const s = await status(learner.url);
    expect(s).toMatchObject({ id: 4, role: 'learner', leader: Number(leader.id) });
    expect(s.members).toContainEqual({ id: 4, peerAddr: 'local:4', learner: true });
    expect((await status(leader.url)).role).toBe('leader');
    const f = await status(follower.url);
    expect(f.role).toBe('follower');
    expect(f.members).toContainEqual({ id: 4, peerAddr: 'local:4', learner: true });
  });
});
