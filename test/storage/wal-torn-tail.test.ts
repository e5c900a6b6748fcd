import { describe, expect, test } from 'vitest';
import { SimulatedDisk } from '../../src/storage/fs/simulated-disk.js';
import { WalCorruptionError } from '../../src/storage/wal/errors.js';
import { decodeRecord } from '../../src/storage/wal/record.js';
import { Wal } from '../../src/storage/wal/wal.js';
import { DIR, entries, hardState } from './helpers.js';

/** Record boundaries [start, end) of a segment's bytes. */
function recordsOf(bytes: Uint8Array): { start: number; end: number }[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: { start: number; end: number }[] = [];
  for (let at = 0; at < bytes.length; ) {
    const d = decodeRecord(bytes, view, at);
    if (!d.ok) throw new Error(`fixture: bad record at ${at}: ${d.reason}`);
    out.push({ start: at, end: d.end });
    at = d.end;
  }
  return out;
}

/** A closed WAL of two segments; the second ends with the entry record of index 8. */
async function fixture(): Promise<{ disk: SimulatedDisk; names: string[] }> {
  const disk = new SimulatedDisk();
  const { wal } = await Wal.open({ dir: DIR, fs: disk.fs() });
  await wal.save({ entries: entries(1, 4, 1), hardState: hardState(1, 'a', 2) });
  await wal.close();
  const { wal: again } = await Wal.open({ dir: DIR, fs: disk.fs() });
  await again.save({ entries: entries(5, 6, 1), hardState: hardState(2, 'b', 4) });
  await again.save({ entries: entries(7, 8, 2) });
  await again.close();
  return { disk, names: disk.list(DIR) };
}

describe('WAL recovery: torn tails', () => {
  test('a last record cut at any byte is dropped, earlier ones kept, and the file truncated to the last valid record', async () => {
    const { disk, names } = await fixture();
    const name = names[1]!;
    const bytes = disk.read(`${DIR}/${name}`)!;
    const last = recordsOf(bytes).at(-1)!;
    for (let cut = last.start; cut < last.end; cut++) {
      for (const zeros of [0, last.end - cut + 64]) {
        const d = disk.clone();
        const torn = new Uint8Array(cut + zeros);
        torn.set(bytes.subarray(0, cut));
        d.write(`${DIR}/${name}`, torn);
        const { wal, recovered } = await Wal.open({ dir: DIR, fs: d.fs() });
        expect(recovered.entries, `cut at ${cut} + ${zeros} zeros`).toEqual([
          ...entries(1, 6, 1),
          ...entries(7, 7, 2),
        ]);
        expect(recovered.hardState).toEqual(hardState(2, 'b', 4));
        expect(d.read(`${DIR}/${name}`)!.length).toBe(last.start);
        await wal.close();
      }
    }
  });

  test('a last record whose checksum fails with nothing valid after it is a torn tail', async () => {
    const { disk, names } = await fixture();
    const name = names[1]!;
    const bytes = disk.read(`${DIR}/${name}`)!;
    const last = recordsOf(bytes).at(-1)!;
    for (let at = last.start; at < last.end; at++) {
      const d = disk.clone();
      const flipped = bytes.slice();
      flipped[at]! ^= 0x40;
      d.write(`${DIR}/${name}`, flipped);
      const { wal, recovered } = await Wal.open({ dir: DIR, fs: d.fs() });
      expect(recovered.entries.at(-1)?.index, `byte ${at} flipped`).toBe(7);
      expect(d.read(`${DIR}/${name}`)!.length).toBe(last.start);
      await wal.close();
    }
  });

  test('a segment of zeros after its valid records is cut back to them', async () => {
    const { disk, names } = await fixture();
    const name = names[1]!;
    const bytes = disk.read(`${DIR}/${name}`)!;
    const padded = new Uint8Array(bytes.length + 4096);
    padded.set(bytes);
    disk.write(`${DIR}/${name}`, padded);
    const { wal, recovered } = await Wal.open({ dir: DIR, fs: disk.fs() });
    expect(recovered.entries).toHaveLength(8);
    expect(disk.read(`${DIR}/${name}`)!.length).toBe(bytes.length);
    await wal.close();
  });
});

describe('WAL recovery: corruption', () => {
  test('a flipped byte anywhere in a record that valid records follow refuses to start, naming file and offset', async () => {
    const { disk, names } = await fixture();
    const name = names[1]!;
    const bytes = disk.read(`${DIR}/${name}`)!;
    const records = recordsOf(bytes);
    expect(records.length).toBeGreaterThan(3);
    for (const rec of records.slice(0, -1)) {
      for (let at = rec.start; at < rec.end; at++) {
        const d = disk.clone();
        const flipped = bytes.slice();
        flipped[at]! ^= 0x01;
        d.write(`${DIR}/${name}`, flipped);
        const err = await Wal.open({ dir: DIR, fs: d.fs() }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, `byte ${at} flipped`).toBeInstanceOf(WalCorruptionError);
        const c = err as WalCorruptionError;
        expect(c.code).toBe('ERR_WAL_CORRUPT');
        expect(c.file).toBe(name);
        expect(c.offset).toBe(rec.start);
        expect(c.message).toContain(`${name} at byte offset ${rec.start}`);
        expect(c.message).toMatch(/restore this node's data folder from a healthy peer/);
        // Nothing was truncated: the evidence stays for the operator.
        expect(d.read(`${DIR}/${name}`)).toEqual(flipped);
      }
    }
  });

  test('a bad record at the end of a segment that a later segment follows is corruption', async () => {
    const { disk, names } = await fixture();
    const name = names[0]!;
    const bytes = disk.read(`${DIR}/${name}`)!;
    const last = recordsOf(bytes).at(-1)!;
    for (let at = last.start; at < last.end; at++) {
      const d = disk.clone();
      const flipped = bytes.slice();
      flipped[at]! ^= 0x80;
      d.write(`${DIR}/${name}`, flipped);
      await expect(Wal.open({ dir: DIR, fs: d.fs() })).rejects.toMatchObject({
        code: 'ERR_WAL_CORRUPT',
        file: name,
        offset: last.start,
      });
    }
    const cut = disk.clone();
    cut.write(`${DIR}/${name}`, bytes.subarray(0, last.end - 1));
    await expect(Wal.open({ dir: DIR, fs: cut.fs() })).rejects.toThrow(
      /valid record follows in 0000000000000002/,
    );
  });

  test('a missing segment in the middle is corruption', async () => {
    const { disk, names } = await fixture();
    const { wal } = await Wal.open({ dir: DIR, fs: disk.fs() });
    await wal.close();
    const d = new SimulatedDisk();
    for (const n of disk.list(DIR)) if (n !== names[1]) d.write(`${DIR}/${n}`, disk.read(`${DIR}/${n}`)!);
    await expect(Wal.open({ dir: DIR, fs: d.fs() })).rejects.toThrow(/segment 2 .* is missing/);
  });

  test('a missing first segment (entries not starting at 1 without a snapshot) is corruption', async () => {
    const { disk, names } = await fixture();
    const d = new SimulatedDisk();
    d.write(`${DIR}/${names[1]!}`, disk.read(`${DIR}/${names[1]!}`)!);
    await expect(Wal.open({ dir: DIR, fs: d.fs() })).rejects.toThrow(
      /entries start at 5 .* a segment .* is missing/,
    );
  });
});
