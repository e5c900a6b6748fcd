import { expect, test } from 'vitest';
import { Prng } from '../../src/sim/prng.js';
import { crc32c, crc32cBytewise, crc32cUpdate } from '../../src/storage/wal/crc32c.js';
import { randomBytes } from './helpers.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

test('CRC32C (Castagnoli) of "123456789" is 0xE3069283', () => {
  expect(crc32c(ascii('123456789'))).toBe(0xe3069283);
  expect(crc32cBytewise(ascii('123456789'))).toBe(0xe3069283);
});

test('known vectors: empty input, 32 zero bytes, 32 0xFF bytes (RFC 3720 B.4)', () => {
  expect(crc32c(new Uint8Array(0))).toBe(0);
  expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
  expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
  expect(crc32c(Uint8Array.from({ length: 32 }, (_, k) => k))).toBe(0x46dd794e);
});

test('the slicing-by-16 path agrees with the byte-at-a-time one, in one piece or many', () => {
  const rng = new Prng(7);
  for (let k = 0; k < 200; k++) {
    const bytes = randomBytes(rng, 300);
    const whole = crc32c(bytes);
    expect(whole).toBe(crc32cBytewise(bytes));
    const cut = rng.nextInt(bytes.length + 1);
    expect(crc32cUpdate(crc32cUpdate(0, bytes, 0, cut), bytes, cut)).toBe(whole);
    expect(crc32c(bytes, 0, cut)).toBe(crc32cBytewise(bytes.subarray(0, cut)));
  }
});
