import { join } from 'node:path';
import { KvStore } from '../../src/kv/kv-store.js';
import { decodeResult, encodeResult } from '../../src/kv/result-codec.js';
import type { KvResult } from '../../src/kv/types.js';
import { LocalNetwork } from '../../src/node/local-network.js';
import { RaftNode } from '../../src/node/raft-node.js';
import { HttpServer } from '../../src/server/http-server.js';
import { KvService } from '../../src/server/kv-service.js';
import { FlotillaMetrics } from '../../src/server/metrics.js';
import { DurableStorage } from '../../src/storage/durable-storage.js';
import { MemoryNodeStorage } from '../../src/storage/node-storage.js';
import { waitFor } from '../node/helpers.js';

export interface LocalKvNode {
  id: string;
  node: RaftNode<KvResult>;
  server: HttpServer;
  url: string;
  metrics: FlotillaMetrics | undefined;
}

export interface LocalKvOptions {
  /** Wire a FlotillaMetrics into each node as `flotilla serve` does (GET /metrics). */
  readonly metrics?: boolean;
  /** Keep each node's log in DurableStorage under `dataDir/<id>` instead of in memory. */
  readonly dataDir?: string;
  /** Start only these of the three members (the others stay down). Default: all three. */
  readonly start?: readonly string[];
  /** Ticks per election timeout (default: RaftNode's); ticks are 10 ms. */
  readonly electionTicks?: number;
  /** The bound of each node's proposal queue (default: RaftNode's). */
  readonly proposalQueueMax?: number;
  /** How long a write may wait for its commit before 504 (default 2000 ms). */
  readonly writeTimeoutMs?: number;
}

/** Three KV nodes in this process (LocalNetwork, memory storage) with real HTTP servers on loopback. */
export async function startLocalKv(o: LocalKvOptions = {}): Promise<{
  nodes: LocalKvNode[];
  net: LocalNetwork;
  stop(): Promise<void>;
}> {
  const ids = ['1', '2', '3'];
  const net = new LocalNetwork();
  const nodes: LocalKvNode[] = [];
  for (const id of o.start ?? ids) {
    const metrics = o.metrics ? new FlotillaMetrics({ processMetrics: id === '1' }) : undefined;
    const storage =
      o.dataDir === undefined
        ? new MemoryNodeStorage()
        : await DurableStorage.open({
            dir: join(o.dataDir, id),
            ...(metrics === undefined ? {} : { onWalSync: metrics.walSynced }),
          });
    const store = new KvStore();
    const node = new RaftNode<KvResult>({
      id,
      voters: ids,
      addresses: Object.fromEntries(ids.map((m) => [m, `local:${m}`])),
      stateMachine: store,
      resultCodec: { encode: encodeResult, decode: decodeResult },
      storage,
      transport: net.transport(id),
      tickMs: 10,
      ...(o.electionTicks === undefined ? {} : { electionTicks: o.electionTicks }),
      ...(o.proposalQueueMax === undefined ? {} : { proposalQueueMax: o.proposalQueueMax }),
      ...(metrics === undefined ? {} : { metrics }),
    });
    metrics?.watch({ node });
    const service = new KvService(node, store, {
      valueBytesMax: 1 << 20,
      writeTimeoutMs: o.writeTimeoutMs ?? 2000,
      ...(metrics === undefined ? {} : { metrics }),
    });
    const server = new HttpServer({
      service,
      valueBytesMax: 1 << 20,
      host: '127.0.0.1',
      port: 0,
      ...(metrics === undefined ? {} : { metrics }),
    });
    await node.start();
    const addr = await server.start();
    nodes.push({ id, node, server, url: `http://127.0.0.1:${addr.port}`, metrics });
  }
  return {
    nodes,
    net,
    stop: async () => {
      for (const n of nodes) {
        await n.server.stop();
        await n.node.stop();
      }
    },
  };
}

/** Waits until one node leads and every node knows it; returns the leader and a follower. */
export async function settled(cluster: { nodes: readonly LocalKvNode[] }): Promise<{
  leader: LocalKvNode;
  follower: LocalKvNode;
}> {
  await waitFor(() => cluster.nodes.some((n) => n.node.isLeader()), 5000, 'a leader');
  const leader = cluster.nodes.find((n) => n.node.isLeader())!;
  await waitFor(
    () => cluster.nodes.every((n) => n.node.status().leader === leader.id),
    5000,
    'every node to know it',
  );
  return { leader, follower: cluster.nodes.find((n) => n !== leader)! };
}
