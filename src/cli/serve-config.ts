import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SESSIONS_MAX_CEILING, SESSIONS_MAX_DEFAULT } from '../kv/types.js';
import { formatPeerAddress } from '../transport/peer-address.js';

/** Everything `flotilla serve` needs, validated. */
export interface ServeConfig {
  readonly id: string;
  readonly clusterId: string;
  readonly dataDir: string;
  readonly clientHost: string;
  readonly clientPort: number;
  readonly peerHost: string;
  readonly peerPort: number;
  /** The peer address the other members dial (behind NAT or a proxy); --peer-addr when not given. */
  readonly advertisePeerAddr: string;
  /** Every voter's peer address, this node's included (empty when joining a running cluster). */
  readonly initialCluster: ReadonlyMap<string, { host: string; port: number }>;
  /** Client URLs of a running cluster to join (empty: start or restart a cluster of initialCluster). */
  readonly join: readonly string[];
  /** Stay a learner after joining instead of asking to be promoted once caught up. */
  readonly joinAsLearner: boolean;
  readonly electionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly snapshotEntries: number;
  readonly valueBytesMax: number;
  /** Serve consistency=lease reads from a leader lease (thesis §6.4.1). */
  readonly leaseReads: boolean;
  /** The clock-rate difference between nodes that leases allow for. */
  readonly maxClockDrift: number;
  /**
   * Client sessions the KV store remembers: the dedup window of idempotency keys. Part of the
   * replicated state's rules: every member must use the same value (docs/kv.md).
   */
  readonly sessionsMax: number;
}

export const SERVE_HELP = `usage: flotilla serve --id N --data-dir DIR --client-addr HOST:PORT --peer-addr HOST:PORT
                     (--initial-cluster 1=HOST:PORT,2=HOST:PORT,3=HOST:PORT | --join URL[,URL]) [options]

Runs one Flotilla node: the Raft peer protocol on --peer-addr, the HTTP API on --client-addr.
--initial-cluster starts (or restarts) a member of a new cluster. --join adds this node, with an
empty data folder, to a running cluster: it asks the cluster at URL to add it as a learner, catches
up, then asks to be promoted to voter (unless --join-as-learner). Restart it with the same flags.

options:
  --cluster-id NAME              the cluster's identity; peers with another are refused (default "flotilla")
  --election-timeout-ms MS       base election timeout (default 1000)
  --heartbeat-interval-ms MS     heartbeat interval and tick length (default 100)
  --snapshot-entries N           snapshot the store every N applied entries (default 10000)
  --value-bytes-max N            the largest value accepted (default 1048576)
  --lease-reads                  serve consistency=lease reads from a leader lease (default off)
  --join-as-learner              with --join: stay a non-voting learner
  --advertise-peer-addr HOST:PORT  the peer address other members dial, when it is not --peer-addr
                                 (a NAT, a port forward, a proxy); it is what --join announces
  --max-clock-drift F            clock-rate difference leases allow for, 0 to 0.5 (default 0.1)
  --sessions-max N               idempotency keys (client sessions) remembered: a retry within the
                                 last N keys is applied once (default 250000, ~250 bytes each).
                                 EVERY member must use the same value; see docs/kv.md
  --config FILE                  read these settings from a JSON file (keys as the flags, e.g. "data-dir")

Every flag can also come from the environment: FLOTILLA_ID, FLOTILLA_DATA_DIR, FLOTILLA_CLIENT_ADDR, ...
Flags win over the environment, which wins over --config.

example:
  flotilla serve --id 1 --data-dir data/1 --client-addr 127.0.0.1:7001 --peer-addr 127.0.0.1:7101 \\
    --initial-cluster 1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103`;

/** A setting is missing or invalid; the message says which and why. */
export class ServeConfigError extends Error {
  readonly code = 'ERR_CONFIG';
}

const FLAGS = [
  'id',
  'cluster-id',
  'data-dir',
  'client-addr',
  'peer-addr',
  'advertise-peer-addr',
  'initial-cluster',
  'join',
  'election-timeout-ms',
  'heartbeat-interval-ms',
  'snapshot-entries',
  'value-bytes-max',
  'max-clock-drift',
  'sessions-max',
] as const;
type Flag = (typeof FLAGS)[number];

/** Reads flags, then FLOTILLA_* environment variables, then a --config JSON file. */
export function parseServeConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ServeConfig | 'help' {
  const options: Record<string, { type: 'string' } | { type: 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    'lease-reads': { type: 'boolean' },
    'join-as-learner': { type: 'boolean' },
  };
  for (const f of [...FLAGS, 'config']) options[f] = { type: 'string' };
  const values = parseArgs({ args: [...argv], options }).values as Record<
    string,
    string | boolean | undefined
  >;
  if (values.help === true) return 'help';
  const file = typeof values.config === 'string' ? readConfigFile(values.config) : {};
  const get = (flag: Flag): string | undefined => {
    const v = values[flag];
    if (typeof v === 'string') return v;
    const e = env[`FLOTILLA_${flag.toUpperCase().replaceAll('-', '_')}`];
    if (e !== undefined && e !== '') return e;
    const f = file[flag];
    return f === undefined ? undefined : String(f);
  };
  const required = (flag: Flag): string => {
    const v = get(flag);
    if (v === undefined) throw new ServeConfigError(`--${flag} is required`);
    return v;
  };
  const id = required('id');
  if (!/^[1-9]\d{0,8}$/.test(id)) throw new ServeConfigError(`--id must be a positive integer, got "${id}"`);
  const client = address('client-addr', required('client-addr'));
  const peer = address('peer-addr', required('peer-addr'));
  const advertiseText = get('advertise-peer-addr');
  const advertised = advertiseText === undefined ? peer : address('advertise-peer-addr', advertiseText);
  const join = parseJoin(get('join'));
  const clusterText = get('initial-cluster');
  if (clusterText === undefined && join.length === 0)
    throw new ServeConfigError('--initial-cluster is required (or --join URL to join a running cluster)');
  if (clusterText !== undefined && join.length > 0)
    throw new ServeConfigError('give --initial-cluster (a new cluster) or --join (a running one), not both');
  const initialCluster = clusterText === undefined ? new Map() : parseInitialCluster(clusterText);
  if (join.length === 0 && !initialCluster.has(id)) {
    throw new ServeConfigError(
      `--initial-cluster must list this node's id ${id} (it lists ${[...initialCluster.keys()].join(', ')})`,
    );
  }
  const heartbeatIntervalMs = integer(
    'heartbeat-interval-ms',
    get('heartbeat-interval-ms') ?? '100',
    1,
    60_000,
  );
  const electionTimeoutMs = integer('election-timeout-ms', get('election-timeout-ms') ?? '1000', 2, 600_000);
  if (electionTimeoutMs < 2 * heartbeatIntervalMs) {
    throw new ServeConfigError(
      `--election-timeout-ms (${electionTimeoutMs}) must be at least twice --heartbeat-interval-ms (${heartbeatIntervalMs})`,
    );
  }
  const clusterId = get('cluster-id') ?? 'flotilla';
  if (!/^[\w.-]{1,64}$/.test(clusterId)) {
    throw new ServeConfigError('--cluster-id must be 1 to 64 letters, digits, dots, dashes or underscores');
  }
  return {
    id,
    clusterId,
    dataDir: required('data-dir'),
    clientHost: client.host,
    clientPort: client.port,
    peerHost: peer.host,
    peerPort: peer.port,
    advertisePeerAddr: formatPeerAddress(advertised),
    initialCluster,
    join,
    joinAsLearner:
      values['join-as-learner'] === true ||
      ['1', 'true'].includes(env.FLOTILLA_JOIN_AS_LEARNER ?? '') ||
      file['join-as-learner'] === true,
    electionTimeoutMs,
    heartbeatIntervalMs,
    snapshotEntries: integer('snapshot-entries', get('snapshot-entries') ?? '10000', 0, 1e9),
    valueBytesMax: integer('value-bytes-max', get('value-bytes-max') ?? String(1 << 20), 1, 16 << 20),
    leaseReads:
      values['lease-reads'] === true ||
      ['1', 'true'].includes(env.FLOTILLA_LEASE_READS ?? '') ||
      file['lease-reads'] === true,
    maxClockDrift: fraction('max-clock-drift', get('max-clock-drift') ?? '0.1'),
    sessionsMax: integer(
      'sessions-max',
      get('sessions-max') ?? String(SESSIONS_MAX_DEFAULT),
      1,
      SESSIONS_MAX_CEILING,
    ),
  };
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ServeConfigError(`--config ${path} cannot be read: ${(err as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not a JSON object');
    for (const k of Object.keys(parsed)) {
      if (!(FLAGS as readonly string[]).includes(k) && k !== 'lease-reads' && k !== 'join-as-learner')
        throw new Error(`unknown setting "${k}"`);
    }
    return parsed as Record<string, unknown>;
  } catch (err) {
    throw new ServeConfigError(`--config ${path} is invalid: ${(err as Error).message}`);
  }
}

export function address(flag: string, text: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text);
  if (m === null) throw new ServeConfigError(`--${flag} must be HOST:PORT, got "${text}"`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new ServeConfigError(`--${flag} port must be 1-65535, got ${port}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

export function parseInitialCluster(text: string): Map<string, { host: string; port: number }> {
  const out = new Map<string, { host: string; port: number }>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const id = part.slice(0, eq).trim();
    if (eq < 0 || !/^[1-9]\d{0,8}$/.test(id)) {
      throw new ServeConfigError(`--initial-cluster entries look like 1=HOST:PORT, got "${part}"`);
    }
    if (out.has(id)) throw new ServeConfigError(`--initial-cluster lists id ${id} twice`);
    out.set(id, address('initial-cluster', part.slice(eq + 1).trim()));
  }
  return out;
}

function parseJoin(text: string | undefined): string[] {
  if (text === undefined || text.trim() === '') return [];
  return text.split(',').map((u) => {
    const url = u.trim().replace(/\/+$/, '');
    if (!/^https?:\/\/[^/\s]+$/.test(url))
      throw new ServeConfigError(`--join takes client URLs like http://127.0.0.1:7001, got "${u}"`);
    return url;
  });
}

function fraction(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || n > 0.5)
    throw new ServeConfigError(`--${flag} must be from 0 to 0.5, got "${text}"`);
  return n;
}

function integer(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ServeConfigError(`--${flag} must be an integer from ${min} to ${max}, got "${text}"`);
  }
  return n;
}
