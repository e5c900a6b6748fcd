/**
 * bench/reads: what each read path costs the consensus layer itself, without HTTP in the way.
 * Three RaftNodes in one process on a LocalNetwork, each on DurableStorage in a temp folder (real
 * WAL, real fdatasync), a key-value state machine; N closed-loop readers call the leader's
 * logRead / readBarrier / leaseRead (or nothing: stale) and then read a key from the state
 * machine, yielding to the event loop once per read as a request from a socket would. The cluster benchmark (bench/cluster.ts) measures the same paths through HTTP, where
 * request handling costs more than any of them.
 *
 *   npx tsx bench/reads.ts                      # 64 readers, 3 s per path
 *   npx tsx bench/reads.ts --readers 64 --duration 5
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KvStore } from '../src/kv/kv-store.js';
import { decodeResult, encodeResult } from '../src/kv/result-codec.js';
import type { KvResult } from '../src/kv/types.js';
import { LocalNetwork } from '../src/node/local-network.js';
import { RaftNode } from '../src/node/raft-node.js';
import { DurableStorage } from '../src/storage/durable-storage.js';

const { values } = parseArgs({
  options: {
    readers: { type: 'string', default: '64' },
    duration: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
  },
});
const readers = Number(values.readers);
const durationMs = Number(values.duration) * 1000;
const warmupMs = Number(values.warmup) * 1000;

type Path = 'log' | 'linearizable' | 'lease' | 'stale';
const PATHS: Path[] = ['log', 'linearizable', 'lease', 'stale'];

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'flotilla-bench-reads-'));
  const ids = ['1', '2', '3'];
  const net = new LocalNetwork();
  const nodes: { node: RaftNode<KvResult>; store: KvStore }[] = [];
  for (const id of ids) {
    const store = new KvStore();
    const node = new RaftNode<KvResult>({
      id,
      voters: ids,
      stateMachine: store,
      resultCodec: { encode: encodeResult, decode: decodeResult },
      storage: await DurableStorage.open({ dir: join(root, id) }),
      transport: net.transport(id),
      tickMs: 100,
      electionTicks: 10,
      leaseReads: true,
    });
    nodes.push({ node, store });
  }
  try {
    for (const n of nodes) await n.node.start();
    while (!nodes.some((n) => n.node.isLeader())) await new Promise((r) => setTimeout(r, 20));
    const leader = nodes.find((n) => n.node.isLeader())!;
    await leader.node.propose(new TextEncoder().encode('warm')).catch(() => undefined);
    const key = new TextEncoder().encode('k');
    const read = (path: Path): Promise<unknown> => {
      const served = () => leader.store.get(key);
      switch (path) {
        case 'log':
          return leader.node.logRead().then(served);
        case 'linearizable':
          return leader.node.readBarrier().then(served);
        case 'lease':
          return leader.node.leaseRead().then(served);
        case 'stale':
          return Promise.resolve(served());
      }
    };
    const rows: { path: Path; perSecond: number; p50: number; p99: number }[] = [];
    for (const path of PATHS) {
      const latencies: number[] = [];
      let counting = false;
      let stop = false;
      const loops = Array.from({ length: readers }, async () => {
        while (!stop) {
          const t0 = performance.now();
          await read(path);
          // Each read yields to the event loop once, as a request arriving over a socket would: a
          // read served without I/O (stale, lease) must not starve the node's timers and I/O.
          await new Promise((r) => setImmediate(r));
          if (counting) latencies.push(performance.now() - t0);
        }
      });
      await new Promise((r) => setTimeout(r, warmupMs));
      counting = true;
      const start = performance.now();
      await new Promise((r) => setTimeout(r, durationMs));
      counting = false;
      const elapsed = performance.now() - start;
      stop = true;
      await Promise.all(loops);
      latencies.sort((a, b) => a - b);
      const q = (p: number) =>
        latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
      rows.push({ path, perSecond: (latencies.length / elapsed) * 1000, p50: q(0.5), p99: q(0.99) });
    }
    const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
    console.log(
      `bench/reads: 3 RaftNodes in one process (LocalNetwork, DurableStorage with fdatasync), ${readers} readers at the leader, ${durationMs / 1000} s per path`,
    );
    console.log(
      `loadavg at the end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n`,
    );
    console.log('path            reads/s    p50 ms   p99 ms');
    for (const r of rows) {
      console.log(
        `${r.path.padEnd(14)}${fmt(r.perSecond).padStart(9)}${r.p50.toFixed(3).padStart(10)}${r.p99.toFixed(3).padStart(9)}`,
      );
    }
    const of = (p: Path) => rows.find((r) => r.path === p)!.perSecond;
    console.log(
      `\nratios: ReadIndex / log ${(of('linearizable') / of('log')).toFixed(2)}×; lease / ReadIndex ${(of('lease') / of('linearizable')).toFixed(2)}×; stale / lease ${(of('stale') / of('lease')).toFixed(2)}×`,
    );
  } finally {
    for (const n of nodes) await n.node.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
