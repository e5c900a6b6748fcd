import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { index, term } from '../../src/raft/types.js';
import { NodeFileLayer } from '../../src/storage/fs/node-file-layer.js';
import { SnapshotStore } from '../../src/storage/snapshot/snapshot-store.js';
import { Wal } from '../../src/storage/wal/wal.js';
import { entries, hardState } from './helpers.js';

let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-fs-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('the real file layer writes, syncs, truncates, renames and syncs a folder', async () => {
  const fs = new NodeFileLayer();
  const d = join(dir, 'a', 'b');
  await fs.mkdir(d);
  const f = await fs.open(join(d, 'x'), 'wx');
  await f.writev([new Uint8Array([1, 2]), new Uint8Array([3])], 0);
  await f.write(new Uint8Array([4]), 3);
  await f.datasync();
  await f.truncate(3);
  await f.sync();
  expect(await f.size()).toBe(3);
  await f.close();
  const r = await fs.open(join(d, 'x'), 'r');
  const back = new Uint8Array(8);
  expect(await r.read(back, 1)).toBe(2);
  expect(back.subarray(0, 2)).toEqual(new Uint8Array([2, 3]));
  await r.close();
  await fs.rename(join(d, 'x'), join(d, 'y'));
  await fs.syncDir(d);
  expect(await fs.readdir(d)).toEqual(['y']);
  expect(await fs.readFile(join(d, 'y'))).toEqual(new Uint8Array([1, 2, 3]));
  expect(await fs.stat(d)).toEqual({ size: expect.any(Number), isDirectory: true });
  await expect(fs.open(join(d, 'y'), 'wx')).rejects.toMatchObject({ code: 'EEXIST' });
  await fs.unlink(join(d, 'y'));
  expect(await fs.readdir(d)).toEqual([]);
});

test('the WAL and the snapshot store work on real files', async () => {
  const walDir = join(dir, 'wal');
  const { wal } = await Wal.open({ dir: walDir, segmentBytes: 256 });
  for (let i = 1; i <= 40; i += 4)
    await wal.save({ entries: entries(i, i + 3, 1), hardState: hardState(1, 'a', i) });
  await wal.saveSnapshotMarker(index(30), term(1));
  await wal.releaseTo(index(30));
  await wal.close();
  const { wal: again, recovered } = await Wal.open({ dir: walDir, segmentBytes: 256 });
  expect(recovered.entries).toEqual(entries(31, 40, 1));
  expect(recovered.hardState).toEqual(hardState(1, 'a', 37));
  await again.close();

  const snaps = await SnapshotStore.open({ dir: join(dir, 'snap') });
  const w = snaps.create({ index: index(30), term: term(1), voters: ['a'] });
  await w.write(new Uint8Array([5, 6, 7]));
  const meta = await w.commit();
  expect(await snaps.latest()).toEqual(meta);
});
