import { join } from 'node:path';
import { FlotillaClient, type MembersJson } from '../client/client.js';
import { KvStore } from '../kv/kv-store.js';
import { decodeResult, encodeResult } from '../kv/result-codec.js';
import type { KvResult } from '../kv/types.js';
import { type NodeLogger, RaftNode } from '../node/raft-node.js';
import { HttpServer } from '../server/http-server.js';
import { KvService } from '../server/kv-service.js';
import { FlotillaMetrics } from '../server/metrics.js';
import { DurableStorage } from '../storage/durable-storage.js';
import { formatPeerAddress } from '../transport/peer-address.js';
import { TcpTransport } from '../transport/tcp-transport.js';
import { address, type ServeConfig } from './serve-config.js';

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

/** Exit status after a failed fsync or write of the data folder (BSD sysexits EX_IOERR). */
export const EX_IOERR = 74;
/** Exit status after any other fatal node error, a broken invariant say (BSD sysexits EX_SOFTWARE). */
export const EX_SOFTWARE = 70;
/** How long a failed node's close may take before the process exits regardless. */
export const FAILURE_CLOSE_MS = 3000;

const STORAGE_FAILURES: ReadonlySet<string> = new Set(['ERR_FSYNC_FAILED', 'ERR_WAL_WRITE']);

/** What `exitAfterFailure` needs from the serving process. */
export interface FailureExit {
  readonly id: string;
  readonly logger: NodeLogger;
  /** Closes the HTTP server, the node, its transport and its files. */
  readonly close: () => Promise<void>;
  readonly exit: (code: number) => void;
  /** The bound on `close` (default FAILURE_CLOSE_MS). */
  readonly closeMs?: number;
}

/**
 * What `flotilla serve` does when its node fails (RaftNodeOptions.onFailure): one line naming the
 * error, a close bounded by `closeMs` (a dying disk can hang a close), then exit with EX_IOERR or
 * EX_SOFTWARE. A failed node must not linger: it would keep its data folder locked, answer HTTP
 * and hold its peers' connections while it can no longer take part. Resolves once `exit` ran.
 */
export async function exitAfterFailure(err: Error, o: FailureExit): Promise<void> {
  const code = (err as { code?: unknown }).code;
  const name = typeof code === 'string' ? code : err.name;
  const status = typeof code === 'string' && STORAGE_FAILURES.has(code) ? EX_IOERR : EX_SOFTWARE;
  const closeMs = o.closeMs ?? FAILURE_CLOSE_MS;
  const oneLine = err.message.replace(/\s*\n\s*/g, ' ');
  o.logger.error(`node ${o.id} failed, exiting with status ${status}: ${name}: ${oneLine}`);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), closeMs);
  });
  const closed = o.close().then(
    () => true,
    (e: Error) => {
      o.logger.error(`closing node ${o.id} after its failure: ${e.message}`);
      return true;
    },
  );
  const inTime = await Promise.race([closed, late]);
  clearTimeout(timer);
  if (!inTime) o.logger.error(`closing node ${o.id} took over ${closeMs} ms; exiting without waiting`);
  o.exit(status);
}

/**
 * Opens the data folder, starts the Raft node on the peer port and the HTTP API (with /metrics)
 * on the client port. When the node fails (a failed fsync), the process exits: see
 * `exitAfterFailure`; `exit` is process.exit unless a test passes another.
 */
export async function startNode(
  cfg: ServeConfig,
  logger: NodeLogger = stderrLogger(cfg.id),
  exit: (code: number) => void = (code) => process.exit(code),
): Promise<RunningNode> {
  // One set of metrics per node: storage, node, KV service and HTTP server count into it, and
  // it reads the node's and the transport's state when /metrics is scraped.
  const metrics = new FlotillaMetrics();
  const storage = await DurableStorage.open({
    dir: cfg.dataDir,
    onWarning: (m) => logger.warn(m),
    onWalSync: metrics.walSynced,
  });
  const store = new KvStore({ sessionsMax: cfg.sessionsMax });
  const addresses = Object.fromEntries([...cfg.initialCluster].map(([id, a]) => [id, formatPeerAddress(a)]));
  let peers = new Map([...cfg.initialCluster].filter(([id]) => id !== cfg.id));
  const fresh = storage.lastIndex() === 0 && storage.snapshot() === undefined;
  if (cfg.join.length > 0 && fresh) {
    peers = await joinCluster(cfg, logger);
  } else if (cfg.join.length > 0) {
    logger.info('the data folder holds this node\u2019s log: restarting from it');
  }
  const transport = new TcpTransport({
    clusterId: cfg.clusterId,
    id: cfg.id,
    listen: { host: cfg.peerHost, port: cfg.peerPort },
    peers,
    logger,
  });
  // A joining node starts with no voters: the leader's log or snapshot tells it the configuration.
  const voters = [...cfg.initialCluster.keys()];
  const tickMs = cfg.heartbeatIntervalMs;
  const node = new RaftNode<KvResult>({
    id: cfg.id,
    voters,
    ...(cfg.join.length === 0 ? { addresses } : {}),
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
    metrics,
    onFailure: (err) => void exitAfterFailure(err, { id: cfg.id, logger, close, exit }),
  });
  metrics.watch({ node, transport });
  const service = new KvService(node, store, {
    valueBytesMax: cfg.valueBytesMax,
    writeTimeoutMs: Math.max(2000, 5 * cfg.electionTimeoutMs),
    metrics,
  });
  const http = new HttpServer({
    service,
    valueBytesMax: cfg.valueBytesMax,
    host: cfg.clientHost,
    port: cfg.clientPort,
    metrics,
  });
  let promotion: { stop(): void } | undefined;
  let closing: Promise<void> | undefined;
  // Once, whether a signal or a failure asked first.
  function close(): Promise<void> {
    closing ??= (async () => {
      promotion?.stop();
      await http.stop();
      await node.stop();
    })();
    return closing;
  }
  await node.start();
  if (cfg.join.length > 0 && !fresh) rejoinIfRemoved(cfg, transport, logger);
  const addr = await http.start();
  logger.info(
    `serving clients on http://${addr.host}:${addr.port}, peers on ${cfg.peerHost}:${cfg.peerPort}, data in ${join(cfg.dataDir)}`,
  );
  promotion = cfg.join.length > 0 && !cfg.joinAsLearner ? promoteWhenCaughtUp(node, logger) : undefined;
  return {
    clientUrl: `http://${addr.host}:${addr.port}`,
    stop: async () => {
      promotion?.stop();
      await handOver(node, logger);
      await close();
    },
  };
}

/**
 * A leader that is asked to stop hands leadership to the most up-to-date voter first (thesis
 * §3.10), so the cluster does not wait an election timeout to notice it is gone. Bounded by the
 * transfer's own deadline; if it fails the node stops anyway and the others elect.
 */
async function handOver(node: RaftNode<KvResult>, logger: NodeLogger): Promise<void> {
  if (!node.isLeader() || node.members().members.filter((m) => m.role === 'voter').length < 2) return;
  try {
    const to = await node.transferLeadership();
    logger.info(`handed leadership to node ${to} before stopping`);
  } catch (err) {
    // The other voters may be stopping too (a whole cluster stopped at once): stop regardless.
    const why =
      (err as { code?: string }).code === 'ERR_TIMEOUT'
        ? 'no voter took over in time'
        : (err as Error).message;
    logger.info(`stopping without handing leadership over (${why})`);
  }
}

/** How long `serve --join` keeps asking a cluster that answers "retry" (leader changes, a change in flight). */
const JOIN_TIMEOUT_MS = 120_000;

/**
 * Asks the running cluster to add this node as a learner and returns its members' peer addresses.
 * A node that was added before but lost its (empty) data folder finds itself listed already.
 */
async function joinCluster(
  cfg: ServeConfig,
  logger: NodeLogger,
): Promise<Map<string, { host: string; port: number }>> {
  const client = new FlotillaClient({ endpoints: cfg.join, attempts: 8 });
  const peerAddr = cfg.advertisePeerAddr;
  const deadline = Date.now() + JOIN_TIMEOUT_MS;
  let view: MembersJson;
  for (;;) {
    try {
      view = await client.addMember({ id: Number(cfg.id), peerAddr, learner: true });
      logger.info(`joined the cluster at ${cfg.join.join(',')} as learner ${cfg.id} (${peerAddr})`);
      break;
    } catch (err) {
      // A timeout, a lost answer or "already a member" may each mean it was done: look first.
      const known = await client.members().catch(() => undefined);
      const me = known?.members.find((m) => String(m.id) === cfg.id);
      if (known !== undefined && me !== undefined) {
        if (me.peerAddr !== peerAddr) {
          throw new Error(
            `node ${cfg.id} is already a member at ${me.peerAddr}, not ${peerAddr}: remove it first (flotilla member remove ${cfg.id}) or use another id`,
          );
        }
        view = known;
        logger.info(`node ${cfg.id} is a member (${peerAddr}); catching up`);
        break;
      }
      // A leader change, a change in flight, no leader yet: the cluster says retry. A request
      // the cluster can never take (a malformed address, say) ends the join.
      if ((err as { code?: string }).code === 'ERR_BAD_REQUEST' || Date.now() > deadline) throw err;
      logger.info(`joining: not done yet (${(err as Error).message}); retrying`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const peers = new Map<string, { host: string; port: number }>();
  for (const m of view.members) {
    if (String(m.id) === cfg.id || m.peerAddr === null) continue;
    peers.set(String(m.id), address('join', m.peerAddr));
  }
  return peers;
}

/**
 * A joined node restarted from its data folder asks the cluster whether it is still a member. Its
 * own log cannot always tell: a node removed while it was down (or cut off) never received the
 * change that dropped it. If the cluster no longer lists it, it asks to be added again and
 * catches up from the log it has, as any lagging follower. Best effort, in the background: a
 * cluster that cannot be reached (all of it restarting at once) is not asked, and the node runs on.
 */
function rejoinIfRemoved(cfg: ServeConfig, transport: TcpTransport, logger: NodeLogger): void {
  void (async () => {
    const known = await new FlotillaClient({ endpoints: cfg.join, attempts: 3 })
      .members()
      .catch(() => undefined);
    if (known === undefined) {
      logger.info(`could not ask ${cfg.join.join(',')} whether node ${cfg.id} is still a member; running on`);
      return;
    }
    if (known.members.some((m) => String(m.id) === cfg.id)) return;
    logger.info(`node ${cfg.id} is no longer a member of the cluster: asking to be added again`);
    try {
      for (const [id, a] of await joinCluster(cfg, logger)) transport.setPeer(id, a);
    } catch (err) {
      logger.error(`could not join the cluster again: ${(err as Error).message}`);
    }
  })();
}

/**
 * A joined node asks to become a voter once it is a learner that has caught up: the leader
 * refuses (ERR_LEARNER_BEHIND) until it is within promoteLagMax entries, so this simply retries.
 */
function promoteWhenCaughtUp(node: RaftNode<KvResult>, logger: NodeLogger): { stop(): void } {
  let stopped = false;
  void (async () => {
    while (!stopped) {
      await new Promise((r) => setTimeout(r, 500));
      if (stopped) return;
      const me = node.members().members.find((m) => m.id === node.id);
      if (me?.role === 'voter') {
        logger.info(`node ${node.id} is a voter`);
        return;
      }
      if (me === undefined) continue; // the configuration naming this node has not arrived yet
      try {
        await node.changeMembership({ type: 'promote', id: node.id });
        logger.info(`node ${node.id} was promoted to voter`);
        return;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== 'ERR_LEARNER_BEHIND' && code !== 'ERR_CONF_CHANGE_IN_PROGRESS')
          logger.info(`promotion of ${node.id} not done yet: ${(err as Error).message}`);
      }
    }
  })();
  return {
    stop: () => {
      stopped = true;
    },
  };
}
