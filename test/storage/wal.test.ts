import { describe, expect, test } from 'vitest';
import { InvariantError } from '../../src/raft/assert.js';
import { index, term } from '../../src/raft/types.js';
import { SimulatedDisk } from '../../src/storage/fs/simulated-disk.js';
import { FsyncFailedError, WalWriteError } from '../../src/storage/wal/errors.js';
import { Wal } from '../../src/storage/wal/wal.js';
import { DIR, entries, entry, hardState } from './helpers.js';

async function reopen(disk: SimulatedDisk, segmentBytes?: number) {
  return Wal.open({ dir: DIR, fs: disk.fs(), ...(segmentBytes === undefined ? {} : { segmentBytes }) });
}

describe('Wal', () => {
  test('a fresh folder opens empty with one segment headed by the zero hard state', async () => {
    const disk = new SimulatedDisk();
    const { wal, recovered } = await reopen(disk);
    expect(recovered).toEqual({ hardState: hardState(0, '', 0), snapshot: undefined, entries: [] });
    expect(disk.list(DIR)).toEqual(['0000000000000001-0000000000000001.wal']);
    expect(wal.lastIndex).toBe(0);
    await wal.close();
  });

  test('entries and hard state saved before a close are read back', async () => {
    const disk = new SimulatedDisk();
    const { wal } = await reopen(disk);
    await wal.save({ entries: entries(1, 3, 1), hardState: hardState(1, 'a', 0) });
    await wal.save({ entries: [entry(4, 1, new Uint8Array(0))], hardState: hardState(1, 'a', 3) });
    await wal.save({ entries: [], hardState: hardState(2, 'é', 3) });
    await wal.close();
    const { wal: again, recovered } = await reopen(disk);
    expect(recovered.hardState).toEqual(hardState(2, 'é', 3));
    expect(recovered.entries).toEqual([...entries(1, 3, 1), entry(4, 1, new Uint8Array(0))]);
    expect(again.lastIndex).toBe(4);
    expect(disk.list(DIR)).toHaveLength(2);
    await again.close();
  });

  test('a save that starts inside the log replaces the conflicting suffix', async () => {
    const disk = new SimulatedDisk();
    const { wal } = await reopen(disk);
    await wal.save({ entries: entries(1, 5, 1) });
    await wal.save({ entries: entries(3, 4, 2), hardState: hardState(2, 'b', 2) });
    await wal.close();
    const { wal: again, recovered } = await reopen(disk);
    expect(recovered.entries).toEqual([...entries(1, 2, 1), ...entries(3, 4, 2)]);
    await again.save({ entries: entries(2, 2, 3) });
    await again.close();
    const { recovered: third } = await reopen(disk);
    expect(third.entries).toEqual([entry(1, 1), entry(2, 3)]);
  });

  test('a snapshot marker over a held entry of its term keeps the entries after it', async () => {
    const disk = new SimulatedDisk();
    const { wal } = await reopen(disk);
    await wal.save({ entries: entries(1, 10, 1), hardState: hardState(1, 'a', 8) });
    await wal.saveSnapshotMarker(index(6), term(1));
    await wal.save({ entries: entries(11, 11, 1) });
    await wal.close();
    const { recovered } = await reopen(disk);
    expect(recovered.snapshot).toEqual({ index: 6, term: 1 });
    expect(recovered.entries).toEqual(entries(7, 11, 1));
    expect(recovered.hardState).toEqual(hardState(1, 'a', 8));
  });

  test('§7: a snapshot marker the log does not match discards the whole log', async () => {
    const disk = new SimulatedDisk();
    const { wal } = await reopen(disk);
    await wal.save({ entries: entries(1, 10, 1), hardState: hardState(3, 'a', 2) });
    await wal.saveSnapshotMarker(index(5), term(2));
    expect(wal.lastIndex).toBe(5);
    await wal.save({ entries: entries(6, 7, 3) });
    await wal.saveSnapshotMarker(index(20), term(3));
    expect(wal.lastIndex).toBe(20);
    await wal.close();
    const { wal: again, recovered } = await reopen(disk);
    expect(recovered.snapshot).toEqual({ index: 20, term: 3 });
    expect(recovered.entries).toEqual([]);
    expect(again.lastIndex).toBe(20);
    await expect(again.save({ entries: entries(20, 20, 3) })).rejects.toThrow(InvariantError);
    await again.save({ entries: entries(21, 22, 3) });
    await again.close();
    expect((await reopen(disk)).recovered.entries).toEqual(entries(21, 22, 3));
  });

  test('segments rotate past segmentBytes and each starts with the hard state and snapshot marker', async () => {
    const disk = new SimulatedDisk();
    const { wal } = await reopen(disk, 200);
    await wal.save({ entries: entries(1, 2, 1), hardState: hardState(1, 'a', 1) });
    await wal.saveSnapshotMarker(index(1), term(1));
    for (let i = 3; i <= 40; i += 2) await wal.save({ entries: entries(i, i + 1, 1) });
    expect(wal.segments.length).toBeGreaterThan(4);
    await wal.close();
    const { recovered } = await reopen(disk, 200);
    expect(recovered.entries).toEqual(entries(2, 40, 1));
    expect(recovered.snapshot).toEqual({ index: 1, term: 1 });
  });

  test('releaseTo deletes only whole old segments at or below the index and recovery still agrees', async () => {
    const disk = new SimulatedDisk();
    const { wal } = await reopen(disk, 150);
    for (let i = 1; i <= 30; i += 3)
      await wal.save({ entries: entries(i, i + 2, 1), hardState: hardState(1, 'a', i) });
    await wal.saveSnapshotMarker(index(20), term(1));
    await expect(wal.releaseTo(index(21))).rejects.toThrow(InvariantError);
    const before = wal.segments.length;
    await wal.releaseTo(index(15));
    const after = wal.segments;
    expect(after.length).toBeLessThan(before);
    expect(disk.list(DIR)).toEqual([...after]);
    await wal.save({ entries: entries(31, 31, 1) });
    await wal.close();
    const { wal: again, recovered } = await reopen(disk, 150);
    expect(recovered.snapshot).toEqual({ index: 20, term: 1 });
    expect(recovered.entries).toEqual(entries(21, 31, 1));
    expect(recovered.hardState).toEqual(hardState(1, 'a', 28));
    // Everything but the segment being written can go once the snapshot covers it all.
    await again.saveSnapshotMarker(index(31), term(1));
    await again.releaseTo(index(31));
    expect(again.segments).toHaveLength(1);
    await again.close();
    const { recovered: last } = await reopen(disk, 150);
    expect(last).toEqual({ hardState: hardState(1, 'a', 28), snapshot: { index: 31, term: 1 }, entries: [] });
  });

  test('calls run one at a time in call order', async () => {
    const disk = new SimulatedDisk();
    const { wal } = await reopen(disk);
    await Promise.all([
      wal.save({ entries: entries(1, 3, 1) }),
      wal.save({ entries: entries(4, 6, 1) }),
      wal.saveSnapshotMarker(index(2), term(1)),
      wal.save({ entries: entries(7, 7, 1) }),
    ]);
    await wal.close();
    expect((await reopen(disk)).recovered.entries).toEqual(entries(3, 7, 1));
  });

  test('a batch that leaves a gap or is not contiguous is a bug and is refused', async () => {
    const disk = new SimulatedDisk();
    const { wal } = await reopen(disk);
    await expect(wal.save({ entries: entries(2, 3, 1) })).rejects.toThrow(InvariantError);
    await expect(wal.save({ entries: [entry(1, 1), entry(3, 1)] })).rejects.toThrow(InvariantError);
    await wal.save({ entries: entries(1, 1, 1) });
    await wal.close();
    await expect(wal.save({ entries: entries(2, 2, 1) })).rejects.toThrow(/after close/);
  });

  test('a failed fdatasync fails the WAL: that call and every later one reject with ERR_FSYNC_FAILED', async () => {
    const disk = new SimulatedDisk();
    const { wal } = await reopen(disk);
    await wal.save({ entries: entries(1, 2, 1) });
    disk.failNextSync('EIO');
    const failed = wal.save({ entries: entries(3, 3, 1) });
    await expect(failed).rejects.toBeInstanceOf(FsyncFailedError);
    await expect(failed).rejects.toMatchObject({ code: 'ERR_FSYNC_FAILED' });
    await expect(failed).rejects.toThrow(/must stop.*retried fsync/s);
    await expect(wal.save({ entries: entries(3, 3, 1) })).rejects.toMatchObject({ code: 'ERR_FSYNC_FAILED' });
    await expect(wal.save({ entries: [], hardState: hardState(1, 'a', 0) })).rejects.toBeInstanceOf(
      FsyncFailedError,
    );
    await expect(wal.saveSnapshotMarker(index(1), term(1))).rejects.toBeInstanceOf(FsyncFailedError);
    await expect(wal.releaseTo(index(0))).rejects.toBeInstanceOf(FsyncFailedError);
    await wal.close();
  });

  test('with sync: dsync a failed O_DSYNC write fails the WAL with ERR_FSYNC_FAILED, and what was saved survives', async () => {
    const disk = new SimulatedDisk();
    const { wal } = await Wal.open({ dir: DIR, fs: disk.fs(), sync: 'dsync' });
    await wal.save({ entries: entries(1, 2, 1) });
    disk.failNextSync('EIO');
    await expect(wal.save({ entries: entries(3, 3, 1) })).rejects.toMatchObject({ code: 'ERR_FSYNC_FAILED' });
    await expect(wal.save({ entries: entries(3, 3, 1) })).rejects.toMatchObject({ code: 'ERR_FSYNC_FAILED' });
    await wal.close();
    disk.crash();
    const { wal: again, recovered } = await Wal.open({ dir: DIR, fs: disk.fs(), sync: 'dsync' });
    expect(recovered.entries.map((e) => e.index)).toEqual([1, 2]);
    await again.close();
  });

  test('with sync: dsync a save is durable without an fdatasync: a crash right after it keeps it', async () => {
    const disk = new SimulatedDisk();
    const { wal } = await Wal.open({ dir: DIR, fs: disk.fs(), sync: 'dsync' });
    await wal.save({ entries: entries(1, 3, 1), hardState: hardState(1, 'a', 2) });
    disk.crash(); // no close: only what the O_DSYNC writes made durable survives
    const { wal: again, recovered } = await Wal.open({ dir: DIR, fs: disk.fs(), sync: 'dsync' });
    expect(recovered.entries.map((e) => e.index)).toEqual([1, 2, 3]);
    expect(recovered.hardState).toEqual(hardState(1, 'a', 2));
    await again.close();
    await expect(Wal.open({ dir: DIR, fs: disk.fs(), sync: 'fsync' as never })).rejects.toMatchObject({
      code: 'ERR_CONFIG',
    });
  });

  test('a failed folder fsync after a rotation fails the WAL too', async () => {
    const disk = new SimulatedDisk();
    const { wal } = await reopen(disk, 10);
    await wal.save({ entries: entries(1, 1, 1) });
    disk.failNextSync(); // the save's own fdatasync
    await expect(wal.save({ entries: entries(2, 2, 1) })).rejects.toMatchObject({ code: 'ERR_FSYNC_FAILED' });
    await expect(wal.save({ entries: entries(2, 2, 1) })).rejects.toMatchObject({ code: 'ERR_FSYNC_FAILED' });
  });

  test('a failed write fails the WAL with ERR_WAL_WRITE', async () => {
    const disk = new SimulatedDisk();
    const { wal } = await reopen(disk);
    disk.stopAfter(0);
    await expect(wal.save({ entries: entries(1, 1, 1) })).rejects.toBeInstanceOf(WalWriteError);
    await expect(wal.save({ entries: entries(1, 1, 1) })).rejects.toMatchObject({ code: 'ERR_WAL_WRITE' });
  });

  test('segmentBytes must be a positive integer', async () => {
    await expect(Wal.open({ dir: DIR, fs: new SimulatedDisk().fs(), segmentBytes: 0 })).rejects.toMatchObject(
      {
        code: 'ERR_CONFIG',
      },
    );
  });
});
