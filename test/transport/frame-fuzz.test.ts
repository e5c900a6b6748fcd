// A peer's bytes are untrusted: whatever arrives, decoding throws FrameError or returns a frame
// that re-encodes to exactly the same bytes. Anything else (a RangeError, a TypeError, a hang)
// would let one bad peer crash or confuse the node.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { decodeFrame, encodeFrame } from '../../src/transport/codec.js';
import { FrameError } from '../../src/transport/errors.js';
import { FrameReader } from '../../src/transport/frame-reader.js';
import type { Frame } from '../../src/transport/frames.js';
import { frameArb } from './arbitraries.js';

// Replay or explore: FLOTILLA_FUZZ_SEED=<n> npx vitest run test/transport/frame-fuzz.test.ts
const SEED = Number(process.env.FLOTILLA_FUZZ_SEED ?? 20_240_601);
const FRAMES = 100_000;
const STREAMS = 3_000;
/** Small enough that some mutated length fields are oversized, large enough for the samples. */
const LIMIT = 64 * 1024;

/** mulberry32: a tiny seeded PRNG, so a failure replays from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

type Mutation = (frame: Uint8Array, other: Uint8Array) => Uint8Array;

function mutations(rand: () => number): readonly [string, Mutation][] {
  const int = (n: number) => Math.floor(rand() * n);
  const randomBytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  const setLength = (b: Uint8Array, length: number) => {
    new DataView(b.buffer, b.byteOffset, b.length).setUint32(0, length >>> 0, true);
    return b;
  };
  /** Makes the length field agree with the size, so the body parser is what gets exercised. */
  const consistent = (b: Uint8Array) => (b.length >= 4 && rand() < 0.6 ? setLength(b, b.length - 4) : b);
  return [
    [
      'bit flips',
      (f) => {
        const b = Uint8Array.from(f);
        for (let k = 1 + int(4); k > 0; k--) {
          const at = int(b.length);
          b[at]! ^= 1 << int(8);
        }
        return b;
      },
    ],
    [
      'byte overwrites past the header',
      (f) => {
        const b = Uint8Array.from(f);
        for (let k = 1 + int(3); k > 0; k--) b[Math.min(b.length - 1, 5 + int(b.length))] = int(256);
        return b;
      },
    ],
    ['truncation', (f) => consistent(Uint8Array.from(f.subarray(0, int(f.length))))],
    ['extension', (f) => consistent(Buffer.concat([f, randomBytes(1 + int(16))]))],
    [
      'length field edits',
      (f) => {
        const b = Uint8Array.from(f);
        const choice = int(4);
        const length = b.length - 4;
        if (choice === 0) return setLength(b, int(0x1_0000_0000));
        if (choice === 1) return setLength(b, length + int(9) - 4);
        if (choice === 2) return setLength(b, 0);
        return setLength(b, LIMIT + int(100));
      },
    ],
    [
      'type byte swapped',
      (f) => {
        const b = Uint8Array.from(f);
        if (b.length > 4)
          b[4] =
            rand() < 0.8 ? [1, 2, 3, 4, 5, 6, 7, 8, 9, 32, 33, 34, 35, 36, 37, 38, 39][int(17)]! : int(256);
        return b;
      },
    ],
    [
      'spliced frames',
      (f, other) =>
        consistent(Buffer.concat([f.subarray(0, int(f.length + 1)), other.subarray(int(other.length))])),
    ],
    ['random bytes', () => consistent(randomBytes(int(64)))],
  ];
}

function check(bytes: Uint8Array, where: string): 'ok' | 'refused' {
  let frame: Frame;
  try {
    frame = decodeFrame(bytes, LIMIT);
  } catch (err) {
    if (err instanceof FrameError) return 'refused';
    throw new Error(`seed=${SEED} ${where}: ${String(err)} for ${Buffer.from(bytes).toString('hex')}`);
  }
  const again = encodeFrame(frame, LIMIT);
  if (Buffer.compare(again, bytes) !== 0) {
    throw new Error(
      `seed=${SEED} ${where}: decoded bytes ${Buffer.from(bytes).toString('hex')} re-encode differently`,
    );
  }
  return 'ok';
}

test(`${FRAMES} mutated and random frames only ever throw FrameError (seed=${SEED})`, () => {
  const rand = prng(SEED);
  const valid = fc.sample(frameArb, { numRuns: 400, seed: SEED }).map((f) => encodeFrame(f, LIMIT));
  const muts = mutations(rand);
  const outcomes = new Map<string, { ok: number; refused: number }>();
  for (let n = 0; n < FRAMES; n++) {
    const [name, mutate] = muts[n % muts.length]!;
    const frame = valid[Math.floor(rand() * valid.length)]!;
    const other = valid[Math.floor(rand() * valid.length)]!;
    const result = check(mutate(frame, other), `case ${n} (${name})`);
    const o = outcomes.get(name) ?? { ok: 0, refused: 0 };
    o[result]++;
    outcomes.set(name, o);
  }
  // Each kind of mutation must reach the decoder's refusals; most bit flips still parse.
  for (const [name, o] of outcomes) expect(o.refused, name).toBeGreaterThan(0);
  const total = [...outcomes.values()].reduce((s, o) => s + o.ok + o.refused, 0);
  expect(total).toBe(FRAMES);
  console.info(
    `seed=${SEED}: ${[...outcomes].map(([name, o]) => `${name} ${o.ok} decoded/${o.refused} refused`).join('; ')}`,
  );
});

test(`${STREAMS} mutated streams through FrameReader only ever throw FrameError (seed=${SEED})`, () => {
  const rand = prng(SEED + 1);
  const int = (n: number) => Math.floor(rand() * n);
  const valid = fc.sample(frameArb, { numRuns: 200, seed: SEED + 1 }).map((f) => encodeFrame(f, LIMIT));
  const muts = mutations(rand);
  let refused = 0;
  for (let n = 0; n < STREAMS; n++) {
    const parts: Uint8Array[] = [];
    for (let k = 1 + int(6); k > 0; k--) {
      const frame = valid[int(valid.length)]!;
      parts.push(rand() < 0.3 ? muts[int(muts.length)]![1](frame, valid[int(valid.length)]!) : frame);
    }
    const stream = Buffer.concat(parts);
    const reader = new FrameReader(LIMIT);
    try {
      for (let at = 0; at < stream.length; ) {
        const size = 1 + int(80);
        reader.push(stream.subarray(at, at + size));
        at += size;
        while (reader.next() !== undefined);
      }
    } catch (err) {
      if (!(err instanceof FrameError)) {
        throw new Error(`seed=${SEED} stream ${n}: ${String(err)} for ${stream.toString('hex')}`);
      }
      refused++;
    }
  }
  expect(refused).toBeGreaterThan(0);
});
