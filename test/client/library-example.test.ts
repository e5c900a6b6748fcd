// docs/library.md's examples, run as the page shows them: the code blocks marked
// `<!-- example: NAME -->` are copied to a temporary folder, their `from 'flotilla'` pointed at the
// package entry (src/index.ts), and imported. If the page and the code drift apart, this fails.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import {
  index,
  LocalNetwork,
  MemoryNodeStorage,
  type RaftNode,
  RaftNode as RaftNodeClass,
  type ResultCodec,
  type StateMachine,
} from '../../src/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENTRY = join(ROOT, 'src/index.ts');

interface CounterLike extends StateMachine<number> {
  total: number;
}

/** What docs/library.md's counter.ts exports. */
interface CounterModule {
  Counter: new () => CounterLike;
  totalCodec: ResultCodec<number>;
  increment(by: number): Uint8Array;
  startCounterCluster(ids?: readonly string[]): Promise<{
    net: LocalNetwork;
    nodes: RaftNode<number>[];
    counters: Map<string, CounterLike>;
    stop(): Promise<unknown>;
  }>;
  add(node: RaftNode<number>, by: number, deadlineMs?: number): Promise<number>;
}

/** What docs/library.md's durable-counter.ts exports. */
interface DurableModule {
  startDurableCounter(cfg: {
    id: string;
    dataDir: string;
    listen: { host: string; port: number };
    cluster: Record<string, string>;
    snapshotEntries?: number;
  }): Promise<{ node: RaftNode<number>; counter: CounterLike; stop(): Promise<void> }>;
}

/** The code blocks marked `<!-- example: NAME -->`, by name. */
function examples(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of markdown.matchAll(/<!-- example: ([\w.-]+) -->\n```ts\n([\s\S]*?)\n```/g)) {
    out.set(m[1]!, m[2]!);
  }
  return out;
}

let dir: string;
let blocks: Map<string, string>;
let counter: CounterModule;
let durable: DurableModule;

beforeAll(async () => {
  blocks = examples(readFileSync(join(ROOT, 'docs/library.md'), 'utf8'));
  dir = mkdtempSync(join(tmpdir(), 'flotilla-library-'));
  for (const [name, code] of blocks) {
    writeFileSync(join(dir, name), code.replaceAll("from 'flotilla'", `from '${ENTRY}'`));
  }
  counter = (await import(join(dir, 'counter.ts'))) as CounterModule;
  durable = (await import(join(dir, 'durable-counter.ts'))) as DurableModule;
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of stream) parts.push(c);
  return Buffer.concat(parts);
}

async function* pieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.slice(at, at + size);
}

describe('docs/library.md', () => {
  test('its examples import only the package entry and each other', () => {
    expect([...blocks.keys()]).toEqual(['counter.ts', 'usage.ts', 'durable-counter.ts']);
    for (const code of blocks.values()) {
      for (const m of code.matchAll(/from '([^']+)'/g)) expect(m[1]).toMatch(/^(flotilla|\.\/[\w-]+\.js)$/);
    }
  });

  test('the usage example runs as shown: a total of 3, read at another member after readBarrier()', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      await import(join(dir, 'usage.ts'));
      expect(log).toHaveBeenCalledWith(3, 3);
    } finally {
      log.mockRestore();
    }
  });

  test('three members apply the same increments, whichever member each was proposed at', async () => {
    const cluster = await counter.startCounterCluster();
    try {
      let sum = 0;
      const writes: Promise<number>[] = [];
      for (let k = 1; k <= 30; k++) {
        sum += k;
        writes.push(counter.add(cluster.nodes[k % 3]!, k));
      }
      const totals = await Promise.all(writes);
      // Each result is a total after some prefix of the log: all distinct, the largest the sum.
      expect(new Set(totals).size).toBe(30);
      expect(Math.max(...totals)).toBe(sum);
      for (const node of cluster.nodes) await node.readBarrier();
      expect([...cluster.counters.values()].map((c) => c.total)).toEqual([sum, sum, sum]);
    } finally {
      await cluster.stop();
    }
  });

  test('Counter keeps the contract: malformed commands answer, snapshots are taken when asked, chunks cut anywhere', async () => {
    const c = new counter.Counter();
    expect(c.apply(counter.increment(5), index(1))).toBe(5);
    expect(c.apply(new Uint8Array([1, 2]), index(2))).toBe(5); // malformed: an answer, no throw
    const snapshot = c.snapshot();
    c.apply(counter.increment(100), index(3)); // after snapshot() returned: not in it
    const bytes = await readAll(snapshot);
    const restored = new counter.Counter();
    await restored.restore(pieces(bytes, 3));
    expect(restored.total).toBe(5);
    await expect(restored.restore(pieces(new Uint8Array(3), 1))).rejects.toThrow(/not a counter snapshot/);
    expect(counter.totalCodec.decode(counter.totalCodec.encode(-7.5))).toBe(-7.5);
  });

  test('a member cut off while the others snapshot catches up by restoring the Counter from a snapshot', async () => {
    const net = new LocalNetwork();
    const ids = ['1', '2', '3'];
    const counters = ids.map(() => new counter.Counter());
    const nodes = ids.map(
      (id, k) =>
        new RaftNodeClass<number>({
          id,
          voters: ids,
          stateMachine: counters[k]!,
          resultCodec: counter.totalCodec,
          storage: new MemoryNodeStorage(),
          transport: net.transport(id),
          tickMs: 10,
          snapshotEntries: 5,
          retainEntries: 0,
        }),
    );
    const restore = vi.spyOn(counters[2]!, 'restore');
    await Promise.all(nodes.map((n) => n.start()));
    try {
      nodes[0]!.campaign();
      await counter.add(nodes[0]!, 1);
      net.isolate('3');
      for (let k = 0; k < 20; k++) await counter.add(nodes[0]!, 1);
      net.heal();
      await counter.add(nodes[2]!, 1); // forwarded once node 3 hears from the leader again
      await nodes[2]!.readBarrier();
      expect(counters.map((c) => c.total)).toEqual([22, 22, 22]);
      expect(restore).toHaveBeenCalled();
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
    }
  });

  test('the production wiring (DurableStorage + TcpTransport) restarts a member with its state', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-counter-'));
    // One member: it listens on a free port and dials nobody, so no port has to be known ahead.
    const cfg = {
      id: '1',
      dataDir,
      listen: { host: '127.0.0.1', port: 0 },
      cluster: { '1': '127.0.0.1:7101' },
      snapshotEntries: 5,
    };
    try {
      const first = await durable.startDurableCounter(cfg);
      first.node.campaign();
      let sum = 0;
      for (let k = 1; k <= 12; k++) {
        sum += k;
        expect(await counter.add(first.node, k)).toBe(sum);
      }
      await first.stop();
      expect(existsSync(join(dataDir, 'snap'))).toBe(true);
      const again = await durable.startDurableCounter(cfg);
      try {
        again.node.campaign();
        // The snapshot, then the log after it: the total is back, and the next write builds on it.
        expect(await counter.add(again.node, 0)).toBe(sum);
        expect(again.counter.total).toBe(sum);
      } finally {
        await again.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('package.json exports ".", "./core" and "./client", each built from a source file', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      exports: Record<string, string | { types: string; default: string }>;
    };
    const sources: Record<string, string> = {};
    for (const [entry, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue;
      expect(target.types).toBe(target.default.replace(/\.js$/, '.d.ts'));
      sources[entry] = target.default.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts');
    }
    expect(sources).toEqual({
      '.': 'src/index.ts',
      './core': 'src/raft/index.ts',
      './client': 'src/client/client.ts',
    });
    for (const file of Object.values(sources)) expect(existsSync(join(ROOT, file))).toBe(true);
  });
});
