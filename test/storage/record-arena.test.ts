import { describe, expect, test } from 'vitest';
import { index } from '../../src/raft/types.js';
import { Prng } from '../../src/sim/prng.js';
import { SimulatedDisk } from '../../src/storage/fs/simulated-disk.js';
import { crc32cBytewise } from '../../src/storage/wal/crc32c.js';
import { entryRecordBytes, RecordEncoder } from '../../src/storage/wal/record.js';
import { RecordArena, recordArena } from '../../src/storage/wal/record-arena.js';
import { Wal } from '../../src/storage/wal/wal.js';
import { DIR, entry, hardState, randomBytes } from './helpers.js';

// The WAL's WebAssembly CRC32C (record-arena.ts) against the byte-at-a-time reference, and the
// records it seals against the ones the JavaScript path writes.

describe('RecordArena', () => {
  test('seal() stores the CRC32C of every record, whatever the lengths (0 to 300 bytes, all tails)', () => {
    const seed = 11;
    const rng = new Prng(seed);
    const arena = new RecordArena(64 * 1024);
    for (let round = 0; round < 50; round++) {
      const payloads = Array.from({ length: 1 + rng.nextInt(40) }, () => randomBytes(rng, 300));
      const size = payloads.reduce((n, p) => n + 8 + p.length, 0);
      const buf = arena.buffer(size);
      const view = new DataView(buf.buffer, buf.byteOffset, size);
      let at = 0;
      for (const p of payloads) {
        view.setUint32(at, p.length, true);
        view.setUint32(at + 4, 0xdeadbeef, true); // stale bytes the seal must overwrite
        buf.set(p, at + 8);
        at += 8 + p.length;
      }
      arena.seal(buf);
      at = 0;
      for (const p of payloads) {
        expect(view.getUint32(at + 4, true), `seed=${seed} round ${round}`).toBe(crc32cBytewise(p));
        at += 8 + p.length;
      }
    }
  });

  test('the encoder writes the same bytes with the arena as without it', () => {
    const rng = new Prng(5);
    const arena = new RecordArena(1024 * 1024);
    for (let round = 0; round < 20; round++) {
      const es = Array.from({ length: 1 + rng.nextInt(300) }, (_, k) =>
        entry(100 + k, 3, randomBytes(rng, 200)),
      );
      const hs = hardState(3, 'node-2', 99);
      const size =
        RecordEncoder.hardStateBytes(hs) +
        RecordEncoder.truncateBytes +
        es.reduce((n, e) => n + entryRecordBytes(e), 0);
      const plain = (() => {
        const enc = new RecordEncoder(size);
        enc.putHardState(hs);
        enc.putTruncate(index(100));
        for (const e of es) enc.putEntry(e);
        return enc.finish().slice();
      })();
      const enc = new RecordEncoder(size, arena);
      enc.putHardState(hs);
      enc.putTruncate(index(100));
      for (const e of es) enc.putEntry(e);
      const sealed = enc.finish();
      expect(sealed.buffer).not.toBe(plain.buffer);
      expect(sealed).toEqual(plain);
    }
  });

  test('a save larger than the arena is encoded in a buffer of its own, with the same checksums', () => {
    const arena = new RecordArena(256);
    const es = [entry(1, 1, new Uint8Array(300).fill(9))];
    const enc = new RecordEncoder(entryRecordBytes(es[0]!), arena);
    enc.putEntry(es[0]!);
    const out = enc.finish();
    const plain = new RecordEncoder(entryRecordBytes(es[0]!));
    plain.putEntry(es[0]!);
    expect(out).toEqual(plain.finish());
    expect(() => arena.buffer(257)).toThrow(RangeError);
    expect(() => arena.seal(new Uint8Array(8))).toThrow(/a view returned by buffer/);
  });
});

test('where WebAssembly is unavailable (node --jitless), the WAL encodes and checksums in JavaScript', async () => {
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'WebAssembly')!;
  Object.defineProperty(globalThis, 'WebAssembly', { value: undefined, configurable: true, writable: true });
  try {
    expect(recordArena(1024)).toBeUndefined();
    const disk = new SimulatedDisk();
    const { wal } = await Wal.open({ dir: DIR, fs: disk.fs() });
    await wal.save({ entries: [entry(1, 1, new Uint8Array([1, 2, 3])), entry(2, 1, new Uint8Array([4]))] });
    await wal.close();
    const { wal: again, recovered } = await Wal.open({ dir: DIR, fs: disk.fs() });
    expect(recovered.entries.map((e) => [...e.data])).toEqual([[1, 2, 3], [4]]);
    await again.close();
  } finally {
    Object.defineProperty(globalThis, 'WebAssembly', saved);
  }
  expect(recordArena(1024)).toBeInstanceOf(RecordArena);
});
