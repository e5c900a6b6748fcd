/**
 * The child of test/integration/wal-kill9.test.ts: appends batches to a real WAL in the folder
 * given as argv[2], forever, and prints `ack B` on stdout once batch B's save() has resolved
 * (stdout to a pipe is synchronous on Linux, so a printed ack reached the parent before any kill).
 * Batch B holds batchSize(B) entries; each entry's data says which batch and position it is.
 */
import { type Entry, EntryKind, index, term } from '../../src/raft/types.js';
import { Wal } from '../../src/storage/wal/wal.js';

export function batchSize(b: number): number {
  return 1 + (b % 7);
}

export function entryData(b: number, k: number): Uint8Array {
  const out = new Uint8Array(12 + (b % 5) * 10);
  const view = new DataView(out.buffer);
  view.setUint32(0, b, true);
  view.setUint32(4, k, true);
  view.setUint32(8, batchSize(b), true);
  out.fill((b * 31 + k) & 0xff, 12);
  return out;
}

export function batchOf(data: Uint8Array): number {
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0, true);
}

async function run(dir: string): Promise<void> {
  const { wal, recovered } = await Wal.open({ dir, segmentBytes: 16 * 1024 });
  const last = recovered.entries.at(-1);
  let next = (last?.index ?? 0) + 1;
  let batch = last === undefined ? 1 : batchOf(last.data) + 1;
  process.stdout.write(`ready ${next - 1}\n`);
  for (;;) {
    const entries: Entry[] = [];
    for (let k = 0; k < batchSize(batch); k++) {
      entries.push({
        index: index(next + k),
        term: term(1),
        kind: EntryKind.Normal,
        data: entryData(batch, k),
      });
    }
    await wal.save({ entries, hardState: { term: term(1), vote: 'child', commit: index(next - 1) } });
    process.stdout.write(`ack ${batch}\n`);
    next += entries.length;
    batch++;
  }
}

const dir = process.argv[2];
if (dir !== undefined && process.argv[1]?.endsWith('wal-kill9-child.ts')) {
  run(dir).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
