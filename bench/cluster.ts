/**
 * bench/cluster: a real 3-node Flotilla cluster (three `flotilla serve` processes, fsync on) under
 * N closed-loop HTTP clients — writes/s, latency, server CPU per operation, single-client write
 * latency, and reads by consistency — optionally side by side with a 3-member etcd.
 *
 *   npm run bench -- --clients 64 --duration 10
 *   npm run bench -- --etcd                          # the same phases against etcd too
 *   npm run bench -- --endpoints http://h:7001,...   # an existing cluster (no CPU figures)
 *   npm run bench -- --reads linearizable,stale,lease
 *
 * Each phase: `--warmup` seconds of load that are not counted, then `--duration` seconds measured.
 * Server CPU per operation: utime + stime of each server process from /proc/<pid>/stat, read at
 * both edges of the measured window, summed over the members, divided by the operations that
 * completed in that window. Only processes the bench started are measured, stopped or signalled.
 */
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { fdatasyncMedianMs } from './cluster/disk.js';
import { etcdVersion, startEtcd } from './cluster/etcd.js';
import { startFlotilla, targetFlotilla } from './cluster/flotilla.js';
import { fetchClient, type HttpClient, type LoadResult, nodeHttpClient } from './cluster/load.js';
import { type PhaseOptions, phasesOf, runPhases } from './cluster/phases.js';
import { cleanUp } from './cluster/processes.js';
import {
  opsPerSecond,
  type PhaseOutcome,
  type PhaseRow,
  serverCpuMicros,
  table,
  throughputRatio,
} from './cluster/report.js';
import type { ReadMode, SystemUnderTest } from './cluster/system.js';

const HELP = `usage: npm run bench -- [options]

options:
  --clients N          concurrent closed-loop clients, one request in flight each (default 64)
  --duration S         measured seconds per phase (default 10)
  --warmup S           unmeasured seconds of load before each phase (default 2)
  --keys N             key space; keys are drawn uniformly (default 10000)
  --value-bytes N      value size (default 128)
  --reads M1,M2,...    read phases by ?consistency= (default linearizable,stale; lease, or any
                       mode the server accepts; etcd has linearizable and stale only)
  --target leader|spread   send every request to the leader (default) or client i to member i mod 3
  --client http|fetch  load generator: node:http keep-alive Agent (default) or fetch
  --endpoints URLS     bench an existing Flotilla cluster instead of starting one (no CPU figures)
  --etcd               also start a 3-member etcd (needs etcd and etcdctl) and compare
  --cpu-prof DIR       start the Flotilla nodes with --cpu-prof; profiles land in DIR on exit
  --rounds R           run every phase R times, the systems taking turns, and keep the round with
                       the median throughput (default 1)
  --quiet-wait S       before each phase, wait up to S seconds for the rest of the machine to
                       go quiet (under 0.3 busy cores), for a shared machine (default 0: no wait)

example: npm run bench -- --clients 64 --duration 10 --etcd`;

interface Options extends PhaseOptions {
  readonly clients: number;
  readonly valueBytes: number;
  readonly reads: readonly ReadMode[];
  readonly client: 'http' | 'fetch';
  readonly endpoints: readonly string[] | undefined;
  readonly etcd: boolean;
  readonly cpuProfDir: string | undefined;
}

const TIMEOUT_MS = 10_000;

function parseOptions(argv: readonly string[]): Options | undefined {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      clients: { type: 'string', default: '64' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      keys: { type: 'string', default: '10000' },
      'value-bytes': { type: 'string', default: '128' },
      reads: { type: 'string', default: 'linearizable,stale' },
      target: { type: 'string', default: 'leader' },
      client: { type: 'string', default: 'http' },
      endpoints: { type: 'string' },
      etcd: { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' },
      'quiet-wait': { type: 'string', default: '0' },
      rounds: { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const num = (flag: string, text: string, min: number, max: number): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new Error(`--${flag} must be ${min} to ${max}, got ${text}`);
    return n;
  };
  if (values.target !== 'leader' && values.target !== 'spread')
    throw new Error('--target is leader or spread');
  if (values.client !== 'http' && values.client !== 'fetch') throw new Error('--client is http or fetch');
  const reads = values.reads.split(',').filter((m) => m !== '');
  if (!reads.every((m) => /^[a-z]+$/.test(m))) throw new Error('--reads lists consistency names, e.g. stale');
  return {
    clients: Math.round(num('clients', values.clients, 1, 4096)),
    durationMs: num('duration', values.duration, 0.5, 3600) * 1000,
    warmupMs: num('warmup', values.warmup, 0, 600) * 1000,
    keys: Math.round(num('keys', values.keys, 1, 1_000_000)),
    valueBytes: Math.round(num('value-bytes', values['value-bytes'], 1, 1 << 20)),
    reads,
    spread: values.target === 'spread',
    client: values.client,
    endpoints: values.endpoints?.split(',').filter((u) => u !== ''),
    etcd: values.etcd,
    cpuProfDir: values['cpu-prof'],
    quietWaitMs: num('quiet-wait', values['quiet-wait'], 0, 3600) * 1000,
    rounds: Math.round(num('rounds', values.rounds, 1, 20)),
  };
}

function header(
  o: Options,
  systems: readonly SystemUnderTest[],
  http: HttpClient,
  fsyncMs: number,
): string[] {
  const cpu = cpus();
  const targeted = o.endpoints !== undefined;
  return [
    `bench/cluster: ${systems.map((s) => `${s.name} ${s.version}`).join(' vs ')}, ${systems[0]!.endpoints.length} members` +
      (targeted ? ' (existing cluster)' : ' each on 127.0.0.1, fsync on, default timeouts'),
    ...(systems.some((s) => s.name === 'etcd')
      ? [
          '  etcd is driven through its v3 HTTP/JSON gateway (/v3/kv/put, /v3/kv/range), as Flotilla through its HTTP API',
        ]
      : []),
    `  machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, ` +
      `node ${process.version}; append + fdatasync in ${tmpdir()}: ${fsyncMs.toFixed(3)} ms (median of 200)`,
    `  load: ${o.clients} closed-loop clients (1 request in flight each) → ${o.spread ? 'member i mod N' : 'the leader'}, ` +
      `${o.valueBytes}-byte values, ${o.keys.toLocaleString('en-US')} keys drawn uniformly`,
    `  client: ${http.name}; warm-up ${o.warmupMs / 1000} s (not counted) then ${o.durationMs / 1000} s per phase` +
      (o.rounds > 1 ? `; ${o.rounds} rounds, systems taking turns, median round shown` : ''),
  ];
}

function ratios(o: Options, systems: readonly SystemUnderTest[], rows: readonly PhaseRow[]): string[] {
  const out = ['', 'ratios:'];
  const row = (title: string) => rows.find((r) => r.title === title);
  const stale = row(`stale reads, ${o.clients} clients`);
  const writes = row(`writes, ${o.clients} clients`);
  const single = row('writes, 1 client');
  for (const s of systems) {
    const parts: string[] = [];
    for (const mode of o.reads) {
      if (mode === 'stale' || stale === undefined) continue;
      const r = row(`${mode} reads, ${o.clients} clients`);
      parts.push(
        `${mode} / stale reads/s ${throughputRatio(r?.outcomes.get(s.name), stale.outcomes.get(s.name))}`,
      );
    }
    const batching = throughputRatio(writes?.outcomes.get(s.name), single?.outcomes.get(s.name));
    parts.push(`writes/s at ${o.clients} clients / at 1 client ${batching}`);
    out.push(`  ${s.name}: ${parts.join('; ')}`);
  }
  const [a, b] = systems;
  if (a !== undefined && b !== undefined && writes !== undefined && single !== undefined) {
    const pair = (r: PhaseRow, f: (x: LoadResult) => number | undefined) => {
      const x = r.outcomes.get(a.name);
      const y = r.outcomes.get(b.name);
      if (x?.ran !== true || y?.ran !== true) return '—';
      const fx = f(x.result);
      const fy = f(y.result);
      return fx === undefined || fy === undefined || !(fy > 0) ? '—' : `${(fx / fy).toFixed(2)}×`;
    };
    out.push(
      `  ${a.name}/${b.name}: writes/s ${pair(writes, opsPerSecond)}, server CPU per write ` +
        `${pair(writes, serverCpuMicros)}, write p99 ${pair(writes, (r) => r.latency.p99)}, ` +
        `single-client write p50 ${pair(single, (r) => r.latency.p50)}`,
    );
  }
  return out;
}

/** `--cpu-prof DIR`: V8 profiles of each node, written when the bench stops it (SIGTERM). */
function nodeArgsOf(o: Options): string[] {
  return o.cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir];
}

async function main(): Promise<number> {
  let o: Options | undefined;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${HELP}`);
    return 64;
  }
  if (o === undefined) {
    console.log(HELP);
    return 0;
  }
  if (o.etcd && etcdVersion() === undefined) {
    console.error(
      '--etcd needs the etcd and etcdctl binaries (Debian: etcd-server etcd-client); not installed here',
    );
    return 1;
  }
  const onSignal = () => {
    void cleanUp().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const http = o.client === 'http' ? nodeHttpClient(o.clients, TIMEOUT_MS) : fetchClient(TIMEOUT_MS);
  const phases = phasesOf(o.clients, o.reads);
  const load0 = loadavg();
  const fsyncMs = await fdatasyncMedianMs();
  const systems: SystemUnderTest[] = [];
  let results: Map<string, PhaseOutcome[]>;
  try {
    const opts = { keys: o.keys, valueBytes: o.valueBytes };
    systems.push(
      o.endpoints === undefined
        ? await startFlotilla({ nodes: 3, nodeArgs: nodeArgsOf(o), ...opts })
        : await targetFlotilla(o.endpoints, opts),
    );
    if (o.etcd) systems.push(await startEtcd({ members: 3, ...opts }));
    // Both run for the whole bench (an idle member costs a few ms of CPU a second) and take
    // turns phase by phase.
    for (const s of systems) console.log(`${s.name} ${s.version}: leader ${s.leader.url}`);
    results = await runPhases(systems, http, phases, o);
  } finally {
    http.close();
    await Promise.all(systems.map((s) => s.stop()));
  }
  const rows: PhaseRow[] = phases.map((p, k) => ({
    title: p.title,
    outcomes: new Map(systems.map((s) => [s.name, results.get(s.name)![k]!])),
  }));
  printReport(o, systems, http, rows, { fsyncMs, load0, load1: loadavg() });
  return 0;
}

function printReport(
  o: Options,
  systems: readonly SystemUnderTest[],
  http: HttpClient,
  rows: readonly PhaseRow[],
  machine: { fsyncMs: number; load0: number[]; load1: number[] },
): void {
  const { fsyncMs, load0, load1 } = machine;
  const fmt = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  console.log(
    [
      '',
      ...header(o, systems, http, fsyncMs),
      `  loadavg (1/5/15 min): start ${fmt(load0)}, end ${fmt(load1)}`,
      '',
    ].join('\n'),
  );
  console.log(
    table(
      rows,
      systems.map((s) => s.name),
    ).join('\n'),
  );
  console.log(
    '\n  srv CPU/op: utime+stime of the server processes over the window (/proc/<pid>/stat), summed, ÷ ops;' +
      '\n  cli CPU/op: this load generator\u2019s own CPU over the window ÷ ops (it shares the machine);' +
      '\n  others: cores kept busy by every other process during the window (/proc/stat); near 0 = undisturbed.',
  );
  console.log(ratios(o, systems, rows).join('\n'));
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
  },
);
