import { Agent, request } from 'node:http';
import { cpuSecondsOf, LatencyRecorder, type LatencySummary, machineBusySeconds } from './stats.js';
import type { BenchRequest, Endpoint } from './system.js';

/** A reply: `status` 0 when the request failed before any answer (then `error` says why). */
export interface Reply {
  readonly status: number;
  readonly body: Buffer;
  readonly error?: string;
}

/** The load generator's HTTP/1.1 client; `--client` picks one. */
export interface HttpClient {
  readonly name: string;
  send(e: Endpoint, r: BenchRequest): Promise<Reply>;
  close(): void;
}

const EMPTY = Buffer.alloc(0);

/** node:http with one keep-alive Agent: each closed-loop client keeps one connection busy. */
export function nodeHttpClient(connections: number, timeoutMs: number): HttpClient {
  const agent = new Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  return {
    name: `node:http (keep-alive Agent, ${connections} sockets)`,
    send: (e, r) =>
      new Promise<Reply>((resolve) => {
        const req = request(
          { agent, host: e.host, port: e.port, method: r.method, path: r.path, headers: r.headers },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const body =
                chunks.length === 1 ? chunks[0]! : chunks.length === 0 ? EMPTY : Buffer.concat(chunks);
              resolve({ status: res.statusCode ?? 0, body });
            });
            res.on('error', (err) => resolve({ status: 0, body: EMPTY, error: err.message }));
          },
        );
        req.setTimeout(timeoutMs, () => req.destroy(new Error(`no reply within ${timeoutMs} ms`)));
        req.on('error', (err) => resolve({ status: 0, body: EMPTY, error: err.message }));
        req.end(r.body);
      }),
    close: () => agent.destroy(),
  };
}

/** The global fetch (undici inside Node), keep-alive by default. */
export function fetchClient(timeoutMs: number): HttpClient {
  return {
    name: 'fetch (undici)',
    send: async (e, r) => {
      try {
        const res = await fetch(e.url + r.path, {
          method: r.method,
          ...(r.body === undefined ? {} : { body: r.body }),
          ...(r.headers['content-type'] === undefined
            ? {}
            : { headers: { 'content-type': r.headers['content-type'] } }),
          signal: AbortSignal.timeout(timeoutMs),
        });
        return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
      } catch (err) {
        return { status: 0, body: EMPTY, error: (err as Error).message };
      }
    },
    close: () => {},
  };
}

export interface LoadSpec {
  /** Concurrent closed-loop clients: each has exactly one request in flight. */
  readonly clients: number;
  /** Load before the measured window; nothing from it is counted. */
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Keys are drawn uniformly from 0..keys-1 (each client its own seeded generator). */
  readonly keys: number;
  readonly endpointOf: (client: number) => Endpoint;
  readonly request: (key: number) => BenchRequest;
  readonly ok: (reply: Reply) => boolean;
  /** Called for every good reply, warm-up included (the bench notes which keys exist). */
  readonly onOk?: (key: number) => void;
  /** Server processes whose CPU time is read at both edges of the window. */
  readonly pids: readonly number[];
}

export interface LoadResult {
  /** Good replies received inside the measured window. */
  readonly ops: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly seconds: number;
  readonly latency: LatencySummary;
  /** CPU seconds of `pids` over the window, summed; undefined without pids. */
  readonly serverCpuSeconds: number | undefined;
  /** CPU seconds of this process (the load generator) over the window. */
  readonly clientCpuSeconds: number;
  /**
   * CPU seconds the rest of the machine used over the window: all busy time less the servers'
   * and the load generator's (only meaningful when the bench started the servers).
   */
  readonly othersCpuSeconds: number | undefined;
}

/**
 * Runs `clients` closed loops for warm-up + duration. The measured window opens and closes on
 * timers; a reply counts when it arrives inside the window (so throughput and CPU cover the same
 * interval), and its latency is recorded. After the window the loops stop sending and drain.
 */
export async function runLoad(client: HttpClient, s: LoadSpec): Promise<LoadResult> {
  const rec = new LatencyRecorder();
  let measuring = false;
  let stopped = false;
  let ops = 0;
  let errors = 0;
  let firstError: string | undefined;
  let t0 = 0;
  let t1 = 0;
  let cpu0: number | undefined;
  let cpu1: number | undefined;
  let own0 = process.cpuUsage();
  let own1 = own0;
  let machine0: number | undefined;
  let machine1: number | undefined;
  const open = () => {
    machine0 = machineBusySeconds();
    cpu0 = s.pids.length === 0 ? undefined : cpuSecondsOf(s.pids);
    own0 = process.cpuUsage();
    t0 = performance.now();
    measuring = true;
  };
  const close = () => {
    if (stopped) return;
    t1 = performance.now();
    own1 = process.cpuUsage();
    cpu1 = s.pids.length === 0 ? undefined : cpuSecondsOf(s.pids);
    machine1 = machineBusySeconds();
    measuring = false;
    stopped = true;
  };
  const opening = setTimeout(open, s.warmupMs);
  const closing = setTimeout(close, s.warmupMs + s.durationMs);
  const loop = async (c: number): Promise<void> => {
    let x = (0x9e3779b9 ^ Math.imul(c + 1, 0x85ebca6b)) >>> 0 || 1;
    const e = s.endpointOf(c);
    while (!stopped) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const key = (x >>> 0) % s.keys;
      const start = performance.now();
      const reply = await client.send(e, s.request(key));
      const good = s.ok(reply);
      if (good) s.onOk?.(key);
      if (measuring) {
        if (good) {
          ops++;
          rec.add(performance.now() - start);
          if (rec.full) close();
        } else {
          errors++;
          firstError ??= describe(reply);
        }
      }
      // A refused connection fails at once: pause so a dead endpoint cannot spin the loop.
      if (reply.status === 0) await new Promise((r) => setTimeout(r, 10));
    }
  };
  try {
    await Promise.all(Array.from({ length: s.clients }, (_, c) => loop(c)));
  } finally {
    clearTimeout(opening);
    clearTimeout(closing);
  }
  const own = (own1.user + own1.system - own0.user - own0.system) / 1e6;
  const server = cpu0 === undefined || cpu1 === undefined ? undefined : cpu1 - cpu0;
  const machine = machine0 === undefined || machine1 === undefined ? undefined : machine1 - machine0;
  return {
    ops,
    errors,
    firstError,
    seconds: (t1 - t0) / 1000,
    latency: rec.summary(),
    serverCpuSeconds: server,
    clientCpuSeconds: own,
    othersCpuSeconds:
      server === undefined || machine === undefined ? undefined : Math.max(0, machine - server - own),
  };
}

/**
 * Writes each of `keys` once with `clients` workers (not measured): reads then find every key.
 * Bounded by the list and by `deadlineMs`. Returns how many failed.
 */
export async function writeEach(
  client: HttpClient,
  keys: readonly number[],
  o: Pick<LoadSpec, 'clients' | 'endpointOf' | 'request' | 'ok'> & { deadlineMs: number },
): Promise<number> {
  let next = 0;
  let failed = 0;
  const deadline = performance.now() + o.deadlineMs;
  const worker = async (c: number) => {
    const e = o.endpointOf(c);
    while (next < keys.length && performance.now() < deadline) {
      const reply = await client.send(e, o.request(keys[next++]!));
      if (!o.ok(reply)) failed++;
    }
  };
  await Promise.all(Array.from({ length: o.clients }, (_, c) => worker(c)));
  return failed + (keys.length - Math.min(next, keys.length));
}

function describe(r: Reply): string {
  if (r.status === 0) return r.error ?? 'no reply';
  return `HTTP ${r.status} ${r.body.subarray(0, 200).toString()}`;
}
