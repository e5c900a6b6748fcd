import { join } from 'node:path';
import { KvStore } from '../kv/kv-store.js';
import { decodeResult, encodeResult } from '../kv/result-codec.js';
import type { KvResult } from '../kv/types.js';
import { type NodeLogger, RaftNode } from '../node/raft-node.js';
import { HttpServer } from '../server/http-server.js';
import { KvService } from '../server/kv-service.js';
import { DurableStorage } from '../storage/durable-storage.js';
import { TcpTransport } from '../transport/tcp-transport.js';
import type { ServeConfig } from './serve-config.js';

/** One line per event on stderr: `time level node message`. */
export function stderrLogger(id: string): NodeLogger {
  const line = (level: string, msg: string) =>
    process.stderr.write(`${new Date().toISOString()} ${level} node=${id} ${msg}\n`);
  return {
    info: (m) => line('info', m),
    warn: (m) => line('warn', m),
    error: (m) => line('error', m),
  };
}

/** A running node: stop() closes the HTTP server, the Raft node, its transport and its files. */
export interface RunningNode {
  readonly clientUrl: string;
  stop(): Promise<void>;
}

/** Opens the data folder, starts the Raft node on the peer port and the HTTP API on the client port. */
export async function startNode(
  cfg: ServeConfig,
  logger: NodeLogger = stderrLogger(cfg.id),
): Promise<RunningNode> {
  const storage = await DurableStorage.open({ dir: cfg.dataDir, onWarning: (m) => logger.warn(m) });
  const store = new KvStore();
  const peers = new Map([...cfg.initialCluster].filter(([id]) => id !== cfg.id));
  const transport = new TcpTransport({
    clusterId: cfg.clusterId,
    id: cfg.id,
    listen: { host: cfg.peerHost, port: cfg.peerPort },
    peers,
    logger,
  });
  const voters = [...cfg.initialCluster.keys()];
  const tickMs = cfg.heartbeatIntervalMs;
  const node = new RaftNode<KvResult>({
    id: cfg.id,
    voters,
    stateMachine: store,
    resultCodec: { encode: encodeResult, decode: decodeResult },
    storage,
    transport,
    tickMs,
    electionTicks: Math.max(2, Math.round(cfg.electionTimeoutMs / tickMs)),
    heartbeatTicks: 1,
    snapshotEntries: cfg.snapshotEntries,
    leaseReads: cfg.leaseReads,
    clockDriftBound: cfg.maxClockDrift,
    retainEntries: Math.min(1000, Math.max(0, Math.floor(cfg.snapshotEntries / 10))),
    logger,
  });
  const service = new KvService(node, store, {
    valueBytesMax: cfg.valueBytesMax,
    writeTimeoutMs: Math.max(2000, 5 * cfg.electionTimeoutMs),
  });
  const members = [...cfg.initialCluster].map(([id, a]) => ({
    id,
    peerAddr: `${a.host}:${a.port}`,
    learner: false,
  }));
  const http = new HttpServer({
    service,
    members,
    valueBytesMax: cfg.valueBytesMax,
    host: cfg.clientHost,
    port: cfg.clientPort,
  });
  await node.start();
  const addr = await http.start();
  logger.info(
    `serving clients on http://${addr.host}:${addr.port}, peers on ${cfg.peerHost}:${cfg.peerPort}, data in ${join(cfg.dataDir)}`,
  );
  return {
    clientUrl: `http://${addr.host}:${addr.port}`,
    stop: async () => {
      await http.stop();
      await node.stop();
    },
  };
}
