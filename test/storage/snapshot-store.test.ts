import { describe, expect, test } from 'vitest';
import { index, type SnapshotMeta as RaftSnapshotMeta, term } from '../../src/raft/types.js';
import { Prng } from '../../src/sim/prng.js';
import { SimulatedDisk, type TornMode } from '../../src/storage/fs/simulated-disk.js';
import { SnapshotCorruptionError } from '../../src/storage/snapshot/errors.js';
import {
  SNAPSHOT_VERSION,
  type SnapshotMeta,
  snapshotFileName,
} from '../../src/storage/snapshot/snapshot-file.js';
import { SnapshotStore } from '../../src/storage/snapshot/snapshot-store.js';
import { crc32c } from '../../src/storage/wal/crc32c.js';
import { FsyncFailedError } from '../../src/storage/wal/errors.js';
import { randomBytes } from './helpers.js';

const DIR = '/data/snap';

function data(seed: number, size: number): Uint8Array {
  const rng = new Prng(seed);
  const out = new Uint8Array(size);
  for (let k = 0; k < size; k++) out[k] = rng.nextInt(256);
  return out;
}

async function store(disk: SimulatedDisk, warnings: string[] = []): Promise<SnapshotStore> {
  return SnapshotStore.open({ dir: DIR, fs: disk.fs(), chunkBytes: 700, onWarning: (m) => warnings.push(m) });
}

async function writeSnapshot(
  s: SnapshotStore,
  i: number,
  t: number,
  bytes: Uint8Array,
): Promise<SnapshotMeta> {
  const w = s.create({ index: index(i), term: term(t), voters: ['a', 'b', 'c'] });
  for (let at = 0; at < bytes.length; at += 1000) await w.write(bytes.subarray(at, at + 1000));
  return w.commit();
}

async function readAll(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('SnapshotStore', () => {
  test('a committed snapshot is the latest and reads back whole, with its header', async () => {
    const disk = new SimulatedDisk();
    const s = await store(disk);
    expect(await s.latest()).toBeUndefined();
    const bytes = data(1, 5000);
    const meta = await writeSnapshot(s, 10, 2, bytes);
    expect(meta).toEqual({
      index: 10,
      term: 2,
      voters: ['a', 'b', 'c'],
      bytes: 5000,
      checksum: crc32c(bytes),
      file: snapshotFileName(index(10), term(2)),
    });
    expect(disk.list(DIR)).toEqual([meta.file]);
    expect(await s.latest()).toEqual(meta);
    expect(await readAll(s.open(meta))).toEqual(bytes);
  });

  test('open() yields chunks of at most chunkBytes and can start at a byte offset', async () => {
    const s = await store(new SimulatedDisk());
    const bytes = data(2, 10_000);
    const meta = await writeSnapshot(s, 5, 1, bytes);
    const sizes: number[] = [];
    const parts: Uint8Array[] = [];
    for await (const c of s.open(meta, { offset: 2500, chunkBytes: 1000 })) {
      sizes.push(c.length);
      parts.push(c);
    }
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1000);
    expect(Buffer.concat(parts)).toEqual(Buffer.from(bytes.subarray(2500)));
    expect(await readAll(s.open(meta, { offset: 10_000 }))).toEqual(new Uint8Array(0));
    expect(await readAll(s.open({ index: meta.index, term: meta.term }))).toEqual(bytes);
    const sizesDefault: number[] = [];
    for await (const c of s.open(meta)) sizesDefault.push(c.length);
    expect(Math.max(...sizesDefault)).toBe(700);
  });

  test('an empty snapshot is valid', async () => {
    const s = await store(new SimulatedDisk());
    const meta = await s.create({ index: index(1), term: term(1), voters: [] }).commit();
    expect(await s.latest()).toEqual(meta);
    expect(await readAll(s.open(meta))).toEqual(new Uint8Array(0));
  });

  test('a damaged newest snapshot falls back to an older valid one, with a warning', async () => {
    const disk = new SimulatedDisk();
    const warnings: string[] = [];
    const s = await store(disk, warnings);
    const older = await writeSnapshot(s, 10, 1, data(3, 3000));
    const newer = await writeSnapshot(s, 20, 2, data(4, 3000));
    const path = `${DIR}/${newer.file}`;
    const bytes = disk.read(path)!;
    bytes[bytes.length - 100]! ^= 0xff;
    disk.write(path, bytes);
    expect(await s.latest()).toEqual(older);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /snap-0000000000000020-0000000000000002\.snap is damaged \(data checksum mismatch\)/,
    );
    await expect(readAll(s.open(newer))).rejects.toBeInstanceOf(SnapshotCorruptionError);
    // A damaged header and a cut file are caught too.
    disk.write(path, bytes.subarray(0, 30));
    expect(await s.latest()).toEqual(older);
    const header = disk.read(`${DIR}/${older.file}`)!;
    header[20]! ^= 1;
    disk.write(`${DIR}/${older.file}`, header);
    await expect(s.latest()).rejects.toMatchObject({ code: 'ERR_SNAPSHOT_CORRUPT' });
    expect(warnings.at(-1)).toMatch(/header checksum mismatch/);
  });

  test('retain(current) keeps current, the newest above it and the newest below it', async () => {
    const disk = new SimulatedDisk();
    const s = await store(disk);
    for (const i of [3, 1, 9, 7, 5, 11]) await writeSnapshot(s, i, 1, data(i, 100));
    await s.retain({ index: index(5), term: term(1) });
    expect([...disk.list(DIR)].sort()).toEqual([3, 5, 11].map((i) => snapshotFileName(index(i), term(1))));
    expect((await s.list()).map((m) => m.index)).toEqual([11, 5, 3]);
    // The newest: kept, and the one below it; nothing above.
    await s.retain({ index: index(11), term: term(1) });
    expect((await s.list()).map((m) => m.index)).toEqual([11, 5]);
  });

  test('abort() leaves nothing behind; stale temporary files are removed at open', async () => {
    const disk = new SimulatedDisk();
    const s = await store(disk);
    const w = s.create({ index: index(3), term: term(1), voters: ['a'] });
    await w.write(data(5, 100));
    await w.abort();
    await w.abort();
    expect(disk.list(DIR)).toEqual([]);
    const left = s.create({ index: index(4), term: term(1), voters: ['a'] });
    await left.write(data(6, 100));
    expect(disk.list(DIR)).toHaveLength(1);
    expect(await s.latest()).toBeUndefined();
    await store(disk);
    expect(disk.list(DIR)).toEqual([]);
  });

  test('a failed fdatasync on commit rejects with ERR_FSYNC_FAILED and the writer refuses more', async () => {
    const disk = new SimulatedDisk();
    const s = await store(disk);
    const w = s.create({ index: index(3), term: term(1), voters: ['a'] });
    await w.write(data(7, 100));
    disk.failNextSync();
    await expect(w.commit()).rejects.toBeInstanceOf(FsyncFailedError);
    await expect(w.write(data(7, 1))).rejects.toMatchObject({ code: 'ERR_FSYNC_FAILED' });
    await w.abort();
    expect(await s.latest()).toBeUndefined();
  });
});

/** A snapshot taken inside a joint configuration C(abc, abd), with a learner and the addresses. */
const JOINT: RaftSnapshotMeta = {
  index: index(40),
  term: term(3),
  voters: ['a', 'b', 'd'],
  learners: ['e'],
  outgoing: ['a', 'b', 'c'],
  addresses: {
    a: '10.0.0.1:7101',
    b: '10.0.0.2:7101',
    c: 'c.internal:7101',
    d: '[::1]:7104',
    e: '10.0.0.5:7101',
  },
};

/**
 * A snapshot file in format version 1 (voters only), as nodes wrote before the configuration was
 * stored whole: magic, version, H, index, term, data length, data CRC, voter count, voters, CRC.
 */
function versionOneFile(i: number, t: number, voters: readonly string[], body: Uint8Array): Uint8Array {
  const ids = voters.map((v) => new TextEncoder().encode(v));
  const size = 48 + ids.reduce((n, id) => n + 2 + id.length, 0) + 4;
  const file = new Uint8Array(size + body.length);
  const view = new DataView(file.buffer);
  file.set(new TextEncoder().encode('FLOTSNAP'), 0);
  view.setUint32(8, 1, true);
  view.setUint32(12, size, true);
  view.setBigUint64(16, BigInt(i), true);
  view.setBigUint64(24, BigInt(t), true);
  view.setBigUint64(32, BigInt(body.length), true);
  view.setUint32(40, crc32c(body), true);
  view.setUint32(44, ids.length, true);
  let at = 48;
  for (const id of ids) {
    view.setUint16(at, id.length, true);
    file.set(id, at + 2);
    at += 2 + id.length;
  }
  view.setUint32(at, crc32c(file, 0, at), true);
  file.set(body, size);
  return file;
}

describe('SnapshotStore keeps the whole configuration', () => {
  test('learners, outgoing voters and addresses read back as written, data intact', async () => {
    const disk = new SimulatedDisk();
    const s = await store(disk);
    const bytes = data(20, 3000);
    const w = s.create(JOINT);
    await w.write(bytes);
    const meta = await w.commit();
    expect(meta).toEqual({
      ...JOINT,
      bytes: 3000,
      checksum: crc32c(bytes),
      file: snapshotFileName(JOINT.index, JOINT.term),
    });
    // A fresh store, as after a restart: the header is all it has.
    const reopened = await store(disk);
    expect(await reopened.latest()).toEqual(meta);
    expect(await reopened.list()).toEqual([meta]);
    expect(await readAll(reopened.open(meta))).toEqual(bytes);
    expect(await readAll(reopened.open(meta, { offset: 1234 }))).toEqual(bytes.subarray(1234));
    // The header says version 2.
    const header = disk.read(`${DIR}/${meta.file}`)!;
    expect(new DataView(header.buffer, header.byteOffset).getUint32(8, true)).toBe(SNAPSHOT_VERSION);
    expect(SNAPSHOT_VERSION).toBe(2);
  });

  test('empty learner and outgoing lists are left out, an empty address map is kept', async () => {
    const s = await store(new SimulatedDisk());
    const w = s.create({
      index: index(2),
      term: term(1),
      voters: ['a'],
      learners: [],
      outgoing: [],
      addresses: {},
    });
    const meta = await w.commit();
    expect(meta).toEqual({
      index: 2,
      term: 1,
      voters: ['a'],
      addresses: {},
      bytes: 0,
      checksum: 0,
      file: meta.file,
    });
    expect(await s.latest()).toEqual(meta);
  });

  test('a version 1 (voters-only) snapshot from an older data folder still opens', async () => {
    const disk = new SimulatedDisk();
    await store(disk);
    const bytes = data(21, 2500);
    const name = snapshotFileName(index(12), term(2));
    disk.write(`${DIR}/${name}`, versionOneFile(12, 2, ['a', 'b', 'ü'], bytes));
    const s = await store(disk);
    const meta = await s.latest();
    expect(meta).toEqual({
      index: 12,
      term: 2,
      voters: ['a', 'b', 'ü'],
      bytes: 2500,
      checksum: crc32c(bytes),
      file: name,
    });
    // Its data starts after its own (shorter) header.
    expect(await readAll(s.open(meta!))).toEqual(bytes);
    expect(await readAll(s.open(meta!, { offset: 2000, chunkBytes: 64 }))).toEqual(bytes.subarray(2000));
    // A newer snapshot is written in the current version beside it; both read back.
    const newer = await writeSnapshot(s, 20, 2, data(22, 100));
    expect((await s.list()).map((m) => m.index)).toEqual([20, 12]);
    expect(await s.latest()).toEqual(newer);
  });

  test('a configuration that does not parse is damage, even under a valid header checksum', async () => {
    const disk = new SimulatedDisk();
    const warnings: string[] = [];
    const s = await store(disk, warnings);
    const meta = await s.create(JOINT).commit();
    const path = `${DIR}/${meta.file}`;
    const file = disk.read(path)!;
    const view = new DataView(file.buffer, file.byteOffset);
    const size = view.getUint32(12, true);
    file[48] = '['.charCodeAt(0); // the JSON's opening brace
    view.setUint32(size - 4, crc32c(file, 0, size - 4), true);
    disk.write(path, file);
    await expect(s.latest()).rejects.toMatchObject({ code: 'ERR_SNAPSHOT_CORRUPT' });
    expect(warnings[0]).toMatch(/the configuration in the header does not parse/);
  });
});

describe('SnapshotStore crash points', () => {
  const oldBytes = data(10, 2500);
  const newBytes = data(11, 4321);

  async function setup(): Promise<{ disk: SimulatedDisk; old: SnapshotMeta }> {
    const disk = new SimulatedDisk();
    const old = await writeSnapshot(await store(disk), 10, 1, oldBytes);
    return { disk, old };
  }

  async function createNew(disk: SimulatedDisk): Promise<boolean> {
    try {
      await writeSnapshot(await store(disk), 20, 2, newBytes);
      return true;
    } catch (err) {
      if (!disk.isStopped) throw err;
      return false;
    }
  }

  test('a crash at every boundary of create/commit leaves the old snapshot or the new one whole', async () => {
    const count = await (async () => {
      const { disk } = await setup();
      const before = disk.boundaries;
      await createNew(disk);
      return disk.boundaries - before;
    })();
    expect(count).toBeGreaterThan(6);
    const modes: readonly TornMode[] = ['none', 'prefix', 'zeros'];
    for (const mode of modes) {
      for (let at = 0; at <= count; at++) {
        const { disk, old } = await setup();
        disk.stopAfter(at);
        const committed = await createNew(disk);
        disk.crash({ mode, rng: new Prng(at) });
        const warnings: string[] = [];
        const s = await store(disk, warnings);
        const latest = await s.latest();
        expect(warnings, `crash at ${at} (${mode})`).toEqual([]);
        expect(latest === undefined ? undefined : latest.index, `crash at ${at} (${mode})`).toBeOneOf([
          10, 20,
        ]);
        if (committed) expect(latest!.index).toBe(20);
        const bytes = await readAll(s.open(latest!));
        expect(bytes).toEqual(latest!.index === 20 ? newBytes : oldBytes);
        if (latest!.index === 10) expect(latest).toEqual(old);
        expect(disk.list(DIR).filter((n) => n.endsWith('.tmp'))).toEqual([]);
      }
    }
  });

  test('random chunk sizes read back exactly', async () => {
    const rng = new Prng(99);
    const s = await store(new SimulatedDisk());
    const bytes = randomBytes(rng, 20_000);
    const w = s.create({ index: index(1), term: term(1), voters: ['x'] });
    for (let at = 0; at < bytes.length; ) {
      const n = rng.between(1, 3000);
      await w.write(bytes.subarray(at, at + n));
      at += n;
    }
    const meta = await w.commit();
    const offset = rng.nextInt(bytes.length);
    expect(await readAll(s.open(meta, { offset, chunkBytes: rng.between(1, 5000) }))).toEqual(
      bytes.subarray(offset),
    );
  });
});
