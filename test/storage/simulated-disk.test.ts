import { describe, expect, test } from 'vitest';
import { Prng } from '../../src/sim/prng.js';
import { CrashError, SimulatedDisk } from '../../src/storage/fs/simulated-disk.js';

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

describe('SimulatedDisk', () => {
  test('a crash keeps synced bytes and loses the rest', async () => {
    const disk = new SimulatedDisk();
    const fs = disk.fs();
    await fs.mkdir('/d');
    const f = await fs.open('/d/f', 'wx');
    await f.write(bytes(1, 2, 3));
    await f.datasync();
    await fs.syncDir('/d');
    await f.write(bytes(4, 5));
    expect(disk.read('/d/f')).toEqual(bytes(1, 2, 3, 4, 5));
    disk.crash();
    expect(disk.read('/d/f')).toEqual(bytes(1, 2, 3));
    await expect(f.write(bytes(6))).rejects.toBeInstanceOf(CrashError);
    await expect(fs.readdir('/d')).rejects.toBeInstanceOf(CrashError);
  });

  test('a torn crash keeps a prefix of the unsynced bytes, or that prefix then zeros', async () => {
    const seen = new Set<string>();
    for (let seed = 0; seed < 40; seed++) {
      for (const mode of ['prefix', 'zeros'] as const) {
        const disk = new SimulatedDisk();
        const fs = disk.fs();
        await fs.mkdir('/d');
        const f = await fs.open('/d/f', 'wx');
        await f.write(bytes(1, 2));
        await f.sync();
        await fs.syncDir('/d');
        await f.write(bytes(3, 4, 5, 6));
        disk.crash({ mode, rng: new Prng(seed) });
        const got = [...disk.read('/d/f')!];
        seen.add(`${mode}:${got.join(',')}`);
        expect(got.slice(0, 2)).toEqual([1, 2]);
        if (mode === 'prefix') expect([3, 4, 5, 6].slice(0, got.length - 2)).toEqual(got.slice(2));
        else expect(got.length === 2 || got.length === 6).toBe(true);
      }
    }
    expect(seen.size).toBeGreaterThan(6);
  });

  test('creations, renames and unlinks are durable only after the folder is synced', async () => {
    const disk = new SimulatedDisk();
    const fs = disk.fs();
    await fs.mkdir('/d');
    const a = await fs.open('/d/a', 'wx');
    await a.write(bytes(1));
    await a.sync();
    disk.crash();
    expect(disk.list('/d')).toEqual([]);

    const fs2 = disk.fs();
    const b = await fs2.open('/d/b', 'wx');
    await b.write(bytes(2));
    await b.sync();
    await fs2.syncDir('/d');
    await fs2.rename('/d/b', '/d/c');
    disk.crash();
    expect(disk.list('/d')).toEqual(['b']);

    const fs3 = disk.fs();
    await fs3.rename('/d/b', '/d/c');
    await fs3.syncDir('/d');
    await fs3.unlink('/d/c');
    disk.crash();
    expect(disk.list('/d')).toEqual(['c']);
    expect(disk.read('/d/c')).toEqual(bytes(2));
  });

  test('stopAfter(n) stops at the n-th next boundary; reads are not boundaries', async () => {
    const disk = new SimulatedDisk();
    const fs = disk.fs();
    await fs.mkdir('/d');
    const f = await fs.open('/d/f', 'wx');
    disk.stopAfter(2);
    await f.write(bytes(1));
    await expect(f.read(new Uint8Array(1), 0)).rejects.toMatchObject({ code: 'EBADF' });
    await fs.readFile('/d/f');
    await f.datasync();
    await expect(f.write(bytes(2))).rejects.toThrow(/stopped before write/);
    expect(disk.isStopped).toBe(true);
    await expect(f.datasync()).rejects.toBeInstanceOf(CrashError);
  });

  test('failNextSync makes the next fsync fail with EIO, once', async () => {
    const disk = new SimulatedDisk();
    const fs = disk.fs();
    await fs.mkdir('/d');
    const f = await fs.open('/d/f', 'wx');
    disk.failNextSync();
    await expect(f.sync()).rejects.toMatchObject({ code: 'EIO' });
    await f.sync();
  });

  test('a wxd (O_DSYNC) file makes each write durable; a crash between the write and its sync tears it', async () => {
    const disk = new SimulatedDisk();
    const fs = disk.fs();
    await fs.mkdir('/d');
    const f = await fs.open('/d/f', 'wxd');
    await fs.syncDir('/d');
    await f.write(bytes(1, 2, 3, 4));
    disk.stopAfter(1); // the next write happens, its sync does not
    await expect(f.write(bytes(5, 6, 7, 8))).rejects.toBeInstanceOf(CrashError);
    const copy = disk.clone();
    disk.crash();
    expect(await disk.fs().readFile('/d/f')).toEqual(bytes(1, 2, 3, 4));
    // Torn: the synced write, then some prefix of the one whose sync never ran.
    copy.crash({ mode: 'zeros', rng: new Prng(3) });
    const torn = await copy.fs().readFile('/d/f');
    expect(torn.length).toBe(8);
    expect(torn.subarray(0, 4)).toEqual(bytes(1, 2, 3, 4));
    const g = await disk.fs().open('/d/g', 'wxd');
    disk.failNextSync();
    await expect(g.write(bytes(9))).rejects.toMatchObject({ code: 'EIO' });
  });

  test('truncate, positioned writes past the end and the w flag behave like a file', async () => {
    const disk = new SimulatedDisk();
    const fs = disk.fs();
    await fs.mkdir('/d');
    const f = await fs.open('/d/f', 'w');
    await f.write(bytes(1, 2, 3, 4));
    await f.truncate(2);
    await f.write(bytes(9), 4);
    expect(disk.read('/d/f')).toEqual(bytes(1, 2, 0, 0, 9));
    await f.writev([bytes(7), bytes(8)], 1);
    expect(disk.read('/d/f')).toEqual(bytes(1, 7, 8, 0, 9));
    expect(await f.size()).toBe(5);
    await expect(fs.open('/d/f', 'wx')).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(fs.open('/d/g', 'r')).rejects.toMatchObject({ code: 'ENOENT' });
    const again = await fs.open('/d/f', 'w');
    expect(await again.size()).toBe(0);
  });
});
