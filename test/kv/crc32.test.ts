import zlib from 'node:zlib';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { crc32, crc32Update } from '../../src/kv/crc32.js';
import { b, replay } from './helpers.js';

test('the CRC-32 check value: crc32("123456789") = 0xcbf43926', () => {
  expect(crc32(b('123456789'))).toBe(0xcbf43926);
  expect(crc32(new Uint8Array(0))).toBe(0);
});

test('a checksum continued over pieces equals the checksum of the whole', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (bytes, cut) => {
      const at = bytes.length === 0 ? 0 : cut % bytes.length;
      expect(crc32Update(crc32Update(0, bytes, 0, at), bytes, at)).toBe(crc32(bytes));
    }),
    { ...replay, numRuns: 500 },
  );
});

// zlib.crc32 exists from Node 20.15; where it does, it is an independent reference.
test.runIf(typeof (zlib as { crc32?: unknown }).crc32 === 'function')('matches zlib.crc32', () => {
  const reference = (zlib as unknown as { crc32(data: Uint8Array): number }).crc32;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      expect(crc32(bytes)).toBe(reference(bytes));
    }),
    { ...replay, numRuns: 500 },
  );
});
