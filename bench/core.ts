/**
 * bench/core: how fast the pure core commits, with no disk and no network in the way.
 * Three cores in one process exchange messages by reference; each "turn" the leader proposes a
 * batch, then every core's Ready is persisted to memory and its messages delivered.
 *
 *   npm run bench:core            # batches of 1, 16 and 256
 *   npm run bench:core -- 256     # one batch size
 */
import type { Message } from '../src/raft/messages.js';
import { RawNode } from '../src/raft/raw-node.js';
import { Role } from '../src/raft/types.js';
import { Prng } from '../src/sim/prng.js';
import { MemoryStorage } from '../src/storage/memory-storage.js';

const ids = ['a', 'b', 'c'];

function cluster() {
  const nodes = new Map<string, { raw: RawNode; storage: MemoryStorage }>();
  for (const id of ids) {
    const storage = new MemoryStorage();
    const raw = new RawNode({ id, voters: ids, storage, rng: new Prng(id.charCodeAt(0)), inflightMax: 256 });
    nodes.set(id, { raw, storage });
  }
  let queue: Message[] = [];
  const turn = (): void => {
    for (const { raw, storage } of nodes.values()) {
      if (!raw.hasReady()) continue;
      const rd = raw.ready();
      for (const m of rd.messages) queue.push(m);
      storage.append(rd.entries);
      if (rd.hardState !== undefined) storage.setHardState(rd.hardState);
      for (const m of rd.messagesAfterPersist) queue.push(m);
      raw.advance();
    }
    const batch = queue;
    queue = [];
    for (const m of batch) nodes.get(m.to)!.raw.step(m);
  };
  nodes.get('a')!.raw.campaign();
  for (let k = 0; k < 20; k++) turn();
  const leader = nodes.get('a')!.raw;
  if (leader.raft.role !== Role.Leader) throw new Error('bench: a did not become leader');
  return { leader, turn };
}

function run(batch: number, entries: number): { perSecond: number; seconds: number } {
  const { leader, turn } = cluster();
  const payload = new Uint8Array(16);
  const proposal: Uint8Array[] = new Array(batch).fill(payload);
  const start = leader.raft.log.commit;
  const target = start + entries;
  const t0 = performance.now();
  let proposed = 0;
  while (leader.raft.log.commit < target) {
    if (proposed < entries) {
      leader.propose(proposal);
      proposed += batch;
    }
    turn();
  }
  const seconds = (performance.now() - t0) / 1000;
  return { perSecond: (leader.raft.log.commit - start) / seconds, seconds };
}

const batches = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [1, 16, 256];
console.log(`bench/core: 3 pure cores in one process, 16-byte entries, node ${process.version}`);
const results: { batch: number; perSecond: number }[] = [];
for (const batch of batches) {
  const entries = Math.min(2_000_000, batch * 20_000);
  run(batch, Math.max(batch * 100, entries / 10)); // warm-up
  const r = run(batch, entries);
  results.push({ batch, perSecond: r.perSecond });
  console.log(
    `  batch ${String(batch).padStart(3)}: ${Math.round(r.perSecond).toLocaleString('en-US').padStart(11)} entries/s committed ` +
      `(${entries.toLocaleString('en-US')} entries in ${r.seconds.toFixed(2)}s)`,
  );
}
const base = results[0]!;
for (const r of results.slice(1))
  console.log(`  batch ${r.batch} / batch ${base.batch}: ${(r.perSecond / base.perSecond).toFixed(1)}×`);
