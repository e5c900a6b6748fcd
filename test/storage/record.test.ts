import { expect, test } from 'vitest';
import { EntryKind, index, term } from '../../src/raft/types.js';
import {
  decodeRecord,
  entryRecordBytes,
  findValidRecord,
  RecordEncoder,
  RecordType,
} from '../../src/storage/wal/record.js';
import { entry, hardState } from './helpers.js';

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

test('each record type reads back exactly, u64 numbers up to 2^53 - 1 included', () => {
  const big = Number.MAX_SAFE_INTEGER;
  const e = {
    index: index(big),
    term: term(2 ** 32 + 5),
    kind: EntryKind.Empty,
    data: new Uint8Array([1, 2, 3]),
  };
  const hs = hardState(big, 'nöde-ü', 2 ** 40);
  const enc = new RecordEncoder(
    entryRecordBytes(e) +
      RecordEncoder.hardStateBytes(hs) +
      RecordEncoder.truncateBytes +
      RecordEncoder.snapshotBytes,
  );
  enc.putEntry(e);
  enc.putHardState(hs);
  enc.putTruncate(index(2 ** 33));
  enc.putSnapshot(index(7), term(big));
  const bytes = enc.finish();
  const v = view(bytes);
  const out = [];
  for (let at = 0; at < bytes.length; ) {
    const d = decodeRecord(bytes, v, at);
    if (!d.ok) throw new Error(d.reason);
    out.push(d.record);
    at = d.end;
  }
  expect(out).toEqual([
    { type: RecordType.Entry, entry: e },
    { type: RecordType.HardState, hardState: hs },
    { type: RecordType.Truncate, from: 2 ** 33 },
    { type: RecordType.Snapshot, index: 7, term: big },
  ]);
});

test('the layout is length, CRC32C over type + payload, type, payload, little-endian', () => {
  const e = entry(1, 1, new Uint8Array([0xaa]));
  const enc = new RecordEncoder(entryRecordBytes(e));
  enc.putEntry(e);
  const b = enc.finish();
  expect(b.length).toBe(8 + 1 + 17 + 1);
  expect(view(b).getUint32(0, true)).toBe(1 + 17 + 1);
  expect(b[8]).toBe(RecordType.Entry);
  expect([...b.subarray(9, 26)]).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, EntryKind.Normal]);
  expect(b[26]).toBe(0xaa);
});

test('numbers past 2^53 are refused on write and rejected on read', () => {
  const enc = new RecordEncoder(RecordEncoder.truncateBytes);
  expect(() => enc.putTruncate(index(2 ** 53))).toThrow(RangeError);
});

test('a record is found again after garbage, and not in zeros', () => {
  const e = entry(3, 1);
  const enc = new RecordEncoder(entryRecordBytes(e));
  enc.putEntry(e);
  const rec = enc.finish();
  const bytes = new Uint8Array(100 + rec.length + 50);
  bytes.fill(0x5a, 0, 100);
  bytes.set(rec, 100);
  expect(findValidRecord(bytes, view(bytes), 0)).toBe(100);
  expect(findValidRecord(bytes, view(bytes), 101)).toBe(-1);
  expect(findValidRecord(new Uint8Array(4096), view(new Uint8Array(4096)), 0)).toBe(-1);
});
