import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

/** How long a node has to stop after SIGTERM before it is sent SIGKILL. */
const STOP_GRACE_MS = 10_000;

export const CLUSTER_HELP = `usage: flotilla cluster [--nodes 3] [--data-dir ./data] [--base-port 7001] [options]

Starts N 'flotilla serve' processes on 127.0.0.1 — node i serves clients on BASE+i-1 and peers on
BASE+100+i-1, with its data in DATA-DIR/i — prints the endpoints and how to use them, and on
Ctrl-C stops them all cleanly (a node still running ${STOP_GRACE_MS / 1000} s later is killed). A node that dies
is reported, not restarted behind your back.

options:
  --nodes N                   how many nodes, 1 to 9 (default 3)
  --data-dir DIR              where node i keeps its data, in DIR/i (default ./data)
  --base-port PORT            the first client port (default 7001)
  --election-timeout-ms MS    passed to every node's serve (default 1000)
  --heartbeat-interval-ms MS  passed to every node's serve (default 100)
  --sessions-max N            passed to every node's serve: exactly-once keys kept (default 250000;
                              data folders written before it became the default need 10000)

example: flotilla cluster --nodes 3`;

/** `flotilla cluster`: a local cluster of real processes, one per node. Resolves with the exit code. */
export async function runCluster(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      nodes: { type: 'string', default: '3' },
      'data-dir': { type: 'string', default: 'data' },
      'base-port': { type: 'string', default: '7001' },
      'election-timeout-ms': { type: 'string' },
      'heartbeat-interval-ms': { type: 'string' },
      'sessions-max': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(CLUSTER_HELP);
    return 0;
  }
  const n = Number(values.nodes);
  const base = Number(values['base-port']);
  if (!Number.isInteger(n) || n < 1 || n > 9) return usage('--nodes must be 1 to 9');
  if (!Number.isInteger(base) || base < 1024 || base + 100 + n > 65535)
    return usage('--base-port must leave room for 2×N ports');
  const dataDir = resolve(values['data-dir']);
  const ids = Array.from({ length: n }, (_, k) => String(k + 1));
  const initial = ids.map((id, k) => `${id}=127.0.0.1:${base + 100 + k}`).join(',');
  const children = new Map<string, ChildProcess>();
  let stopping = false;
  for (const [k, id] of ids.entries()) {
    const dir = join(dataDir, id);
    mkdirSync(dir, { recursive: true });
    const args = [
      ...process.execArgv,
      process.argv[1]!,
      'serve',
      '--id',
      id,
      '--data-dir',
      dir,
      '--client-addr',
      `127.0.0.1:${base + k}`,
      '--peer-addr',
      `127.0.0.1:${base + 100 + k}`,
      '--initial-cluster',
      initial,
      ...(values['election-timeout-ms'] === undefined
        ? []
        : ['--election-timeout-ms', values['election-timeout-ms']]),
      ...(values['sessions-max'] === undefined ? [] : ['--sessions-max', values['sessions-max']]),
      ...(values['heartbeat-interval-ms'] === undefined
        ? []
        : ['--heartbeat-interval-ms', values['heartbeat-interval-ms']]),
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'pipe'] });
    child.stderr?.on('data', (b: Buffer) => {
      for (const line of b.toString().split('\n'))
        if (line.includes(' warn ') || line.includes(' error ')) console.error(line);
    });
    child.on('exit', (code, signal) => {
      children.delete(id);
      if (!stopping)
        console.error(
          `node ${id} exited (${signal ?? `code ${code}`}); it is not restarted — run 'npm start' again to bring it back`,
        );
    });
    children.set(id, child);
  }
  const endpoints = ids.map((_, k) => `http://127.0.0.1:${base + k}`);
  await waitUntilReady(endpoints, 20_000);
  console.log(`Flotilla: ${n}-node cluster on 127.0.0.1 (data in ${dataDir})\n`);
  for (const [k, e] of endpoints.entries()) {
    console.log(`  node ${ids[k]}: ${e}   (peers on 127.0.0.1:${base + 100 + k})`);
  }
  console.log(`
Try it — any node accepts writes (followers forward them to the leader):
  curl -X PUT ${endpoints[0]}/v1/kv/greeting -d 'hello'
  curl ${endpoints[1] ?? endpoints[0]}/v1/kv/greeting
  curl '${endpoints[0]}/v1/kv?prefix=gr'
  curl ${endpoints[0]}/v1/status
  npm run flotilla -- get greeting --endpoints ${endpoints.join(',')}

Grow it while it runs (node ${n + 1} joins as a learner, catches up, and is promoted to voter):
  npm run flotilla -- serve --id ${n + 1} --data-dir ${join(dataDir, String(n + 1))} --client-addr 127.0.0.1:${base + n} \\
    --peer-addr 127.0.0.1:${base + 100 + n} --join ${endpoints[0]}
  npm run flotilla -- member list --endpoints ${endpoints[0]}
  npm run flotilla -- leader transfer --endpoints ${endpoints[0]}

Press Ctrl-C to stop the cluster.`);
  return new Promise<number>((resolveExit) => {
    const stop = () => {
      if (stopping) return;
      stopping = true;
      console.log('\nstopping the cluster...');
      for (const c of children.values()) c.kill('SIGTERM');
      let killed = 0;
      // A node stuck in its shutdown must not keep the cluster, and its ports, alive. Only our own
      // children are signalled, each through its ChildProcess (its PID).
      const deadline = setTimeout(() => {
        for (const [id, c] of children) {
          console.error(`node ${id} did not stop within ${STOP_GRACE_MS / 1000} s; killing it (SIGKILL)`);
          c.kill('SIGKILL');
          killed++;
        }
      }, STOP_GRACE_MS);
      const check = setInterval(() => {
        if (children.size === 0) {
          clearInterval(check);
          clearTimeout(deadline);
          resolveExit(killed === 0 ? 0 : 1);
        }
      }, 50);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

async function waitUntilReady(endpoints: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = await Promise.all(
      endpoints.map((e) =>
        fetch(`${e}/readyz`, { signal: AbortSignal.timeout(500) }).then(
          (r) => r.ok,
          () => false,
        ),
      ),
    );
    if (ready.every(Boolean)) return;
    if (Date.now() > deadline) {
      console.error(`the cluster did not become ready within ${timeoutMs} ms; check the nodes' output above`);
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function usage(problem: string): number {
  console.error(`${problem}\n\n${CLUSTER_HELP}`);
  return 64;
}
