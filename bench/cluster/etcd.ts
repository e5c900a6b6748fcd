import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { freePort, removeDir, ServerProcess, tempDir, tryJson, waitForLeader } from './processes.js';
import {
  type BenchRequest,
  benchValue,
  type Endpoint,
  endpoint,
  keyName,
  type ReadMode,
  type SystemUnderTest,
} from './system.js';

/** `etcd --version`'s first line when both `etcd` and `etcdctl` run, else undefined. Installs nothing. */
export function etcdVersion(): string | undefined {
  try {
    execFileSync('etcdctl', ['version'], { stdio: 'ignore', timeout: 5_000 });
    const out = execFileSync('etcd', ['--version'], { encoding: 'utf8', timeout: 5_000 });
    return /etcd Version: (\S+)/.exec(out)?.[1] ?? out.split('\n')[0];
  } catch {
    return undefined;
  }
}

/**
 * A 3-member etcd cluster on loopback with etcd's default settings (heartbeat 100 ms, election
 * 1000 ms, fsync on), data in a temp dir. The load goes through etcd's v3 HTTP/JSON gateway
 * (`POST /v3/kv/put`, `/v3/kv/range`, base64 keys and values), the same transport as Flotilla's
 * API, rather than through gRPC.
 */
export async function startEtcd(o: {
  members: number;
  keys: number;
  valueBytes: number;
}): Promise<SystemUnderTest> {
  const version = etcdVersion();
  if (version === undefined)
    throw new Error('etcd and etcdctl are not installed (Debian: etcd-server etcd-client)');
  const root = tempDir('flotilla-bench-etcd-');
  const procs: ServerProcess[] = [];
  try {
    const ports: { client: number; peer: number }[] = [];
    for (let k = 0; k < o.members; k++) ports.push({ client: await freePort(), peer: await freePort() });
    const name = (k: number) => `m${k + 1}`;
    const initial = ports.map((p, k) => `${name(k)}=http://127.0.0.1:${p.peer}`).join(',');
    const token = `flotilla-bench-${process.pid}`;
    for (const [k, p] of ports.entries()) {
      procs.push(
        new ServerProcess(`etcd ${name(k)}`, 'etcd', [
          '--name',
          name(k),
          '--data-dir',
          join(root, name(k)),
          '--listen-client-urls',
          `http://127.0.0.1:${p.client}`,
          '--advertise-client-urls',
          `http://127.0.0.1:${p.client}`,
          '--listen-peer-urls',
          `http://127.0.0.1:${p.peer}`,
          '--initial-advertise-peer-urls',
          `http://127.0.0.1:${p.peer}`,
          '--initial-cluster',
          initial,
          '--initial-cluster-token',
          token,
          '--initial-cluster-state',
          'new',
        ]),
      );
    }
    const endpoints = ports.map((p) => endpoint(`http://127.0.0.1:${p.client}`));
    const leader = await waitForLeader(endpoints, procs, leaderProbe());
    return etcdSystem(version, endpoints, leader, procs, o, async () => {
      await Promise.all(procs.map((p) => p.stop()));
      removeDir(root);
    });
  } catch (err) {
    await Promise.all(procs.map((p) => p.stop()));
    removeDir(root);
    throw err;
  }
}

function leaderProbe(): Parameters<typeof waitForLeader<Endpoint>>[2] {
  return {
    isReady: async (e) => (await tryJson(`${e.url}/health`))?.health === 'true',
    isLeader: async (e) => {
      const s = await tryJson(`${e.url}/v3/maintenance/status`, '{}');
      const header = s?.header as { member_id?: string } | undefined;
      return s !== undefined && header?.member_id !== undefined && header.member_id === s.leader;
    },
    what: 'an etcd leader with every member healthy',
  };
}

const MODES: Readonly<Record<string, string>> = {
  linearizable: '',
  stale: ',"serializable":true',
};

function etcdSystem(
  version: string,
  endpoints: readonly Endpoint[],
  leader: Endpoint,
  procs: readonly ServerProcess[],
  o: { keys: number; valueBytes: number },
  stop: () => Promise<void>,
): SystemUnderTest {
  const value = benchValue(o.valueBytes).toString('base64');
  const keys = Array.from({ length: o.keys }, (_, k) => Buffer.from(keyName(k)).toString('base64'));
  const post = (path: string, json: string): BenchRequest => {
    const body = Buffer.from(json);
    return {
      method: 'POST',
      path,
      body,
      headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
    };
  };
  const writes = keys.map((k) => post('/v3/kv/put', `{"key":"${k}","value":"${value}"}`));
  const reads = new Map<ReadMode, BenchRequest[]>();
  const readsOf = (mode: ReadMode): BenchRequest[] | undefined => {
    const extra = MODES[mode];
    if (extra === undefined) return undefined;
    let rs = reads.get(mode);
    if (rs === undefined) {
      rs = keys.map((k) => post('/v3/kv/range', `{"key":"${k}"${extra}}`));
      reads.set(mode, rs);
    }
    return rs;
  };
  const found = Buffer.from('"kvs"');
  return {
    name: 'etcd',
    version,
    endpoints,
    leader,
    pids: procs.map((p) => p.pid),
    write: (k) => writes[k]!,
    read: (k, mode) => readsOf(mode)?.[k],
    readFound: (body) => body.includes(found),
    probeRead: async (mode) => {
      const r = readsOf(mode)?.[0];
      if (r === undefined) return { ok: false, why: `etcd has no "${mode}" read` };
      const res = await fetch(leader.url + r.path, {
        method: 'POST',
        body: r.body,
        headers: { 'content-type': 'application/json' },
        signal: AbortSignal.timeout(5_000),
      });
      const text = await res.text();
      if (!res.ok) return { ok: false, why: `HTTP ${res.status} ${text.slice(0, 200)}` };
      return { ok: true, servedAs: mode === 'stale' ? 'serializable' : 'linearizable' };
    },
    stop,
  };
}
