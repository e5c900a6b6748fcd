// DurableStorage keeps a snapshot's whole configuration — learners, outgoing voters, addresses —
// through a restart: the core of a node that installed a snapshot taken inside a joint
// configuration must come back with that configuration, not with the voters alone.
import { expect, test } from 'vitest';
import { index, type SnapshotMeta, term } from '../../src/raft/types.js';
import { DurableStorage } from '../../src/storage/durable-storage.js';
import { SimulatedDisk } from '../../src/storage/fs/simulated-disk.js';
import { entries } from './helpers.js';

const DATA = '/data/node';

const JOINT: SnapshotMeta = {
  index: index(7),
  term: term(2),
  voters: ['a', 'b', 'd'],
  learners: ['e'],
  outgoing: ['a', 'b', 'c'],
  addresses: { a: '10.0.0.1:7101', b: '10.0.0.2:7101', c: '10.0.0.3:7101', d: '[::1]:7104', e: 'e:7105' },
};

async function writeSnapshot(storage: DurableStorage, meta: SnapshotMeta, bytes: Uint8Array): Promise<void> {
  const sink = storage.createSnapshot(meta);
  await sink.write(bytes);
  await sink.commit();
}

async function readAll(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

test('a received snapshot keeps its whole configuration across a restart', async () => {
  const disk = new SimulatedDisk();
  const fs = disk.fs();
  const first = await DurableStorage.open({ dir: DATA, fs });
  const bytes = new Uint8Array([1, 2, 3, 4, 5]);
  await writeSnapshot(first, JOINT, bytes);
  await first.installSnapshot(JOINT);
  expect(first.snapshot()).toEqual(JOINT);
  await first.close();

  const again = await DurableStorage.open({ dir: DATA, fs });
  expect(again.snapshot()).toEqual(JOINT);
  expect(again.firstIndex()).toBe(8);
  expect(await readAll(again.openSnapshot(JOINT, 0))).toEqual(bytes);
  await again.close();
});

test("the node's own snapshot keeps its whole configuration across a restart", async () => {
  const disk = new SimulatedDisk();
  const fs = disk.fs();
  const first = await DurableStorage.open({ dir: DATA, fs });
  await first.save(entries(1, 10, 2), { term: term(2), vote: 'a', commit: index(10) });
  await writeSnapshot(first, JOINT, new Uint8Array([9]));
  await first.compactLog(JOINT, index(5));
  await first.close();

  const again = await DurableStorage.open({ dir: DATA, fs });
  expect(again.snapshot()).toEqual(JOINT);
  expect(again.lastIndex()).toBe(10);
  await again.close();
});

const meta = (i: number, t: number): SnapshotMeta => ({
  index: index(i),
  term: term(t),
  voters: ['a', 'b', 'c'],
  learners: [],
  outgoing: [],
});

test('compaction never deletes the snapshot file the WAL marker names, whatever received snapshots wait above it', async () => {
  const disk = new SimulatedDisk();
  const fs = disk.fs();
  const s = await DurableStorage.open({ dir: DATA, fs });
  await s.save(entries(1, 14, 2), { term: term(2), vote: 'a', commit: index(14) });
  await writeSnapshot(s, meta(10, 2), new Uint8Array([10]));
  await s.compactLog(meta(10, 2), index(8));
  // Two snapshots from a leader are stored but never installed (their messages were lost, or
  // came from a deposed leader): files above the marker.
  await writeSnapshot(s, meta(20, 3), new Uint8Array([20]));
  await writeSnapshot(s, meta(25, 3), new Uint8Array([25]));
  await writeSnapshot(s, meta(12, 2), new Uint8Array([12]));
  await s.compactLog(meta(12, 2), index(11));
  expect(await readAll(s.openSnapshot(meta(12, 2), 0))).toEqual(new Uint8Array([12]));
  await s.close();
  const again = await DurableStorage.open({ dir: DATA, fs });
  expect(again.snapshot()?.index).toBe(12);
  expect(await readAll(again.openSnapshot(meta(12, 2), 0))).toEqual(new Uint8Array([12]));
  await again.close();
});

test("the node's own snapshot finished after a newer one from the leader was installed is dropped, not recorded", async () => {
  const disk = new SimulatedDisk();
  const fs = disk.fs();
  const s = await DurableStorage.open({ dir: DATA, fs });
  await s.save(entries(1, 14, 2), { term: term(2), vote: 'a', commit: index(14) });
  // The node starts its own snapshot at 12 (streamed in the background)...
  const own = s.createSnapshot(meta(12, 2));
  await own.write(new Uint8Array([12]));
  // ...while the leader's snapshot at 30 arrives and is installed.
  await writeSnapshot(s, meta(30, 3), new Uint8Array([30]));
  await s.installSnapshot(meta(30, 3));
  await own.commit();
  await s.compactLog(meta(12, 2), index(10)); // was: the WAL marker would go back from 30 to 12
  expect(s.snapshot()?.index).toBe(30);
  await s.save(entries(31, 32, 3), undefined);
  await s.close();
  const again = await DurableStorage.open({ dir: DATA, fs });
  expect(again.snapshot()?.index).toBe(30);
  expect(again.lastIndex()).toBe(32);
  expect(await readAll(again.openSnapshot(meta(30, 3), 0))).toEqual(new Uint8Array([30]));
  await again.close();
});
