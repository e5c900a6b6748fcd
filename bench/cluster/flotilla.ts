import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const PACKAGE_JSON = fileURLToPath(new URL('../../package.json', import.meta.url));

export interface FlotillaStartOptions {
  readonly nodes: number;
  readonly keys: number;
  readonly valueBytes: number;
  /** Extra `node` flags for every serve process, e.g. `--cpu-prof --cpu-prof-dir DIR`. */
  readonly nodeArgs: readonly string[];
}

/**
 * N real `flotilla serve` processes on loopback with default timeouts and fsync on (the WAL
 * always syncs), started as test/integration/process-cluster.ts does, data in a temp dir.
 */
export async function startFlotilla(o: FlotillaStartOptions): Promise<SystemUnderTest> {
  const root = tempDir('flotilla-bench-');
  const procs: ServerProcess[] = [];
  try {
    const ports: { client: number; peer: number }[] = [];
    for (let k = 0; k < o.nodes; k++) ports.push({ client: await freePort(), peer: await freePort() });
    const initial = ports.map((p, k) => `${k + 1}=127.0.0.1:${p.peer}`).join(',');
    for (const [k, p] of ports.entries()) {
      const id = String(k + 1);
      procs.push(
        new ServerProcess(`flotilla node ${id}`, process.execPath, [
          ...o.nodeArgs,
          '--import',
          'tsx',
          MAIN,
          'serve',
          '--id',
          id,
          '--cluster-id',
          'bench',
          '--data-dir',
          join(root, id),
          '--client-addr',
          `127.0.0.1:${p.client}`,
          '--peer-addr',
          `127.0.0.1:${p.peer}`,
          '--initial-cluster',
          initial,
          // Leases cost nothing unless a read asks for consistency=lease (thesis §6.4.1).
          '--lease-reads',
        ]),
      );
    }
    const endpoints = ports.map((p) => endpoint(`http://127.0.0.1:${p.client}`));
    const stop = async () => {
      await Promise.all(procs.map((p) => p.stop()));
      removeDir(root);
    };
    const leader = await waitForLeader(endpoints, procs, leaderProbe());
    return flotillaSystem(endpoints, leader, procs, o, stop);
  } catch (err) {
    await Promise.all(procs.map((p) => p.stop()));
    removeDir(root);
    throw err;
  }
}

/** A Flotilla cluster someone else runs (`--endpoints`): no CPU figures, nothing to stop. */
export async function targetFlotilla(
  urls: readonly string[],
  o: { keys: number; valueBytes: number },
): Promise<SystemUnderTest> {
  const endpoints = urls.map(endpoint);
  const leader = await waitForLeader(endpoints, [], leaderProbe());
  return flotillaSystem(endpoints, leader, [], o, async () => {});
}

function leaderProbe(): Parameters<typeof waitForLeader<Endpoint>>[2] {
  return {
    isReady: async (e) => (await tryJson(`${e.url}/readyz`))?.ready === true,
    isLeader: async (e) => (await tryJson(`${e.url}/v1/status`))?.role === 'leader',
    what: 'a Flotilla leader with every node ready',
  };
}

function flotillaSystem(
  endpoints: readonly Endpoint[],
  leader: Endpoint,
  procs: readonly ServerProcess[],
  o: { keys: number; valueBytes: number },
  stop: () => Promise<void>,
): SystemUnderTest {
  const value = benchValue(o.valueBytes);
  const paths = Array.from({ length: o.keys }, (_, k) => `/v1/kv/${keyName(k)}`);
  const writeHeaders = { 'content-type': 'application/octet-stream', 'content-length': String(value.length) };
  const writes: BenchRequest[] = paths.map((path) => ({
    method: 'PUT',
    path,
    body: value,
    headers: writeHeaders,
  }));
  const reads = new Map<ReadMode, BenchRequest[]>();
  const readsOf = (mode: ReadMode): BenchRequest[] => {
    let rs = reads.get(mode);
    if (rs === undefined) {
      // The default consistency is linearizable (ReadIndex): no parameter, as a plain client sends it.
      const query = mode === 'linearizable' ? '' : `?consistency=${encodeURIComponent(mode)}`;
      rs = paths.map((p) => ({ method: 'GET', path: p + query, body: undefined, headers: {} }));
      reads.set(mode, rs);
    }
    return rs;
  };
  return {
    name: 'flotilla',
    version: (JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string }).version,
    endpoints,
    leader,
    pids: procs.map((p) => p.pid),
    write: (k) => writes[k]!,
    read: (k, mode) => readsOf(mode)[k]!,
    readFound: () => true,
    probeRead: async (mode) => {
      const r = readsOf(mode)[0]!;
      const res = await fetch(leader.url + r.path, { signal: AbortSignal.timeout(5_000) });
      const text = await res.text();
      if (!res.ok && res.status !== 404)
        return { ok: false, why: `HTTP ${res.status} ${text.slice(0, 200)}` };
      return { ok: true, servedAs: res.headers.get('x-flotilla-consistency') ?? 'unknown' };
    },
    stop,
  };
}
