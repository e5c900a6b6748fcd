import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { InvariantError } from '../../src/raft/assert.js';
import type { Message } from '../../src/raft/messages.js';
import { EntryKind, index, type SnapshotMeta, term } from '../../src/raft/types.js';
import { decodeFrame, encodeFrame } from '../../src/transport/codec.js';
import { FrameError } from '../../src/transport/errors.js';
import { FrameReader } from '../../src/transport/frame-reader.js';
import {
  FRAME_BYTES_MAX_DEFAULT,
  type Frame,
  type FrameType,
  frameTypeOf,
} from '../../src/transport/frames.js';
import { controlFrameArb, frameArb, MESSAGE_TYPES, messageArb } from './arbitraries.js';

// fast-check prints the seed and path of a failing run; replay it with
// FC_SEED=<seed> FC_PATH=<path> npx vitest run test/transport/codec.test.ts
const replay = {
  seed: process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED),
  path: process.env.FC_PATH,
};

const MAX = Number.MAX_SAFE_INTEGER;
const t = term;
const i = index;

/** One message of each type, with the largest exact numbers. */
const EXAMPLES: readonly Message[] = [
  {
    type: 'app',
    from: 'a',
    to: 'b',
    term: t(MAX),
    prevIndex: i(MAX - 2),
    prevTerm: t(7),
    entries: [
      { term: t(7), index: i(MAX - 1), kind: EntryKind.Normal, data: new Uint8Array([1, 2, 3]) },
      { term: t(MAX), index: i(MAX), kind: EntryKind.Empty, data: new Uint8Array(0) },
    ],
    commit: i(MAX),
  },
  {
    type: 'app-resp',
    from: 'b',
    to: 'a',
    term: t(3),
    index: i(9),
    reject: true,
    hintIndex: i(4),
    hintTerm: t(2),
  },
  { type: 'heartbeat', from: 'a', to: 'b', term: t(3), commit: i(2 ** 32), context: MAX },
  { type: 'heartbeat-resp', from: 'b', to: 'a', term: t(3), context: 12 },
  { type: 'vote', from: 'ü', to: '節点', term: t(4), lastIndex: i(10), lastTerm: t(3), transfer: true },
  { type: 'pre-vote', from: 'a', to: 'b', term: t(5), lastIndex: i(0), lastTerm: t(0), transfer: false },
  { type: 'timeout-now', from: 'a', to: 'b', term: t(6) },
  { type: 'vote-resp', from: 'b', to: 'a', term: t(4), reject: false },
  { type: 'pre-vote-resp', from: 'b', to: 'a', term: t(5), reject: true },
  {
    type: 'snapshot',
    from: 'a',
    to: 'c',
    term: t(6),
    snapshot: { index: i(100), term: t(5), voters: ['a', 'b', 'c'] },
  },
  {
    // Taken inside a joint configuration, with a learner and every member's address (v2).
    type: 'snapshot',
    from: 'a',
    to: 'e',
    term: t(7),
    snapshot: {
      index: i(200),
      term: t(7),
      voters: ['a', 'b', 'd'],
      learners: ['e'],
      outgoing: ['a', 'b', 'c'],
      addresses: { d: '10.0.0.4:7101', '10': '[::1]:7101', a: 'a.internal:7101', '2': 'ü:1' },
    },
  },
];

function roundTrip(f: Frame, frameBytesMax = FRAME_BYTES_MAX_DEFAULT): Frame {
  return decodeFrame(encodeFrame(f, frameBytesMax), frameBytesMax);
}

describe('codec round trip', () => {
  test('the examples cover every Raft message type', () => {
    expect(new Set(EXAMPLES.map((m) => m.type))).toEqual(new Set(Object.keys(MESSAGE_TYPES)));
  });

  test.each(EXAMPLES.map((m) => [m.type, m] as const))('%s decodes to what was encoded', (_, m) => {
    expect(roundTrip(m)).toEqual(m);
  });

  test('every frame has its own type byte', () => {
    const samples = fc.sample(frameArb, { numRuns: 2_000, seed: 1 });
    const byType = new Map<string, FrameType>();
    for (const f of samples) byType.set(f.type, frameTypeOf(f));
    expect(byType.size).toBe(18);
    expect(new Set(byType.values()).size).toBe(18);
  });

  test('any Raft message round-trips exactly (fast-check)', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        expect(roundTrip(m)).toEqual(m);
      }),
      { numRuns: 2_000, ...replay },
    );
  });

  test('any transport frame round-trips exactly (fast-check)', () => {
    fc.assert(
      fc.property(controlFrameArb, (f) => {
        expect(roundTrip(f)).toEqual(f);
      }),
      { numRuns: 2_000, ...replay },
    );
  });

  test("a snapshot's configuration has one encoding: address order and empty lists do not matter", () => {
    const snapshot = (meta: Partial<SnapshotMeta>): Message => ({
      type: 'snapshot',
      from: 'a',
      to: 'b',
      term: t(2),
      snapshot: { index: i(9), term: t(2), voters: ['a', 'b'], ...meta },
    });
    const sorted = encodeFrame(snapshot({ addresses: { '10': 'x:1', '9': 'y:2', a: 'z:3' } }));
    const shuffled = encodeFrame(snapshot({ addresses: { a: 'z:3', '9': 'y:2', '10': 'x:1' } }));
    expect(Buffer.compare(sorted, shuffled)).toBe(0);
    const empty = snapshot({ learners: [], outgoing: [] });
    expect(Buffer.compare(encodeFrame(empty), encodeFrame(snapshot({})))).toBe(0);
    expect(roundTrip(empty)).toEqual(snapshot({}));
    // An empty address map is not the same as none.
    expect(roundTrip(snapshot({ addresses: {} }))).toEqual(snapshot({ addresses: {} }));
  });

  test('entry data, payloads and chunks are views of the frame, not copies', () => {
    const frame = encodeFrame(EXAMPLES[0]!);
    const m = decodeFrame(frame);
    if (m.type !== 'app') throw new Error('expected app');
    const data = m.entries[0]!.data;
    expect(data.buffer).toBe(frame.buffer);
    expect(data.byteOffset).toBeGreaterThanOrEqual(frame.byteOffset);
    expect(data.byteOffset + data.length).toBeLessThanOrEqual(frame.byteOffset + frame.length);
    const chunk = encodeFrame({
      type: 'snapshot-chunk',
      meta: { index: i(1), term: t(1), voters: [] },
      offset: 0,
      last: false,
      data: new Uint8Array(100).fill(7),
    });
    const c = decodeFrame(chunk);
    if (c.type !== 'snapshot-chunk') throw new Error('expected chunk');
    expect(c.data.buffer).toBe(chunk.buffer);
  });

  test('numbers are exact up to 2^53 − 1; larger ones are refused on both sides', () => {
    expect(roundTrip(heartbeatWith(MAX))).toEqual(heartbeatWith(MAX));
    expect(() => encodeFrame(heartbeatWith(2 ** 53))).toThrow(InvariantError);
    expect(() => encodeFrame(heartbeatWith(-1))).toThrow(InvariantError);
    expect(() => encodeFrame(heartbeatWith(1.5))).toThrow(InvariantError);
    // The commit field's high word set to 2^21 (value 2^53) on the wire.
    const bytes = encodeFrame(heartbeatWith(0));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    view.setUint32(bytes.length - 16 + 4, 0x20_0000, true);
    expect(() => decodeFrame(bytes)).toThrow(/commit is 2\^53 or more/);
  });
});

function heartbeatWith(commit: number): Message {
  return { type: 'heartbeat', from: 'a', to: 'b', term: t(1), commit: i(commit), context: 0 };
}

function bigAppend(dataBytes: number): Message {
  const data = new Uint8Array(dataBytes);
  return {
    type: 'app',
    from: 'a',
    to: 'b',
    term: t(1),
    prevIndex: i(0),
    prevTerm: t(0),
    entries: [{ term: t(1), index: i(1), kind: EntryKind.Normal, data }],
    commit: i(0),
  };
}

describe('frame size limits', () => {
  // app header: 5 + from 3 + to 3 + term 8 + prevIndex/prevTerm/commit 24 + count 4 + entry 21.
  const APP_OVERHEAD = 5 + 3 + 3 + 8 + 24 + 4 + 21;

  test('a frame of exactly frameBytesMax passes; one byte more is refused when encoding', () => {
    const limit = 10_000;
    expect(encodeFrame(bigAppend(limit - APP_OVERHEAD), limit).length).toBe(limit);
    expect(() => encodeFrame(bigAppend(limit - APP_OVERHEAD + 1), limit)).toThrow(FrameError);
  });

  test('the default limit is 16 MiB', () => {
    expect(encodeFrame(bigAppend(16 * 1024 * 1024 - APP_OVERHEAD)).length).toBe(16 * 1024 * 1024);
    expect(() => encodeFrame(bigAppend(16 * 1024 * 1024 - APP_OVERHEAD + 1))).toThrow(
      /exceeds frameBytesMax/,
    );
  });

  test('the decoder refuses a frame larger than its own limit', () => {
    const frame = encodeFrame(bigAppend(5_000));
    expect(() => decodeFrame(frame, 4_096)).toThrow(FrameError);
    expect(decodeFrame(frame, frame.length).type).toBe('app');
  });

  test('the stream reader refuses an oversized frame from its length field, before buffering it', () => {
    const reader = new FrameReader(4_096);
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, 1 << 30, true);
    reader.push(header);
    expect(() => reader.next()).toThrow(/exceeds frameBytesMax/);
  });
});

describe('decodeFrame refuses malformed frames with FrameError', () => {
  const valid = encodeFrame(EXAMPLES[0]!);

  const cases: readonly [string, () => Uint8Array][] = [
    ['an empty buffer', () => new Uint8Array(0)],
    ['a truncated frame', () => valid.subarray(0, valid.length - 1)],
    ['trailing bytes', () => Buffer.concat([valid, new Uint8Array([0])])],
    ['a length field of 0', () => new Uint8Array([0, 0, 0, 0, 1])],
    ['an unknown type', () => withByte(encodeFrame(EXAMPLES[3]!), 4, 200)],
    ['a boolean that is neither 0 nor 1', () => withByte(encodeFrame(EXAMPLES[6]!), -1, 2)],
    ['invalid UTF-8 in a node id', () => withByte(encodeFrame(EXAMPLES[3]!), 7, 0xff)],
    ['an unknown entry kind', () => withEntryKind(9)],
    ['an entry count larger than the frame', () => withEntryCount(0xffff_ffff)],
    ['a handshake without the magic', () => withByte(handshakeBytes(), 5, 0)],
  ];

  test.each(cases)('%s', (_, make) => {
    expect(() => decodeFrame(make())).toThrow(FrameError);
  });

  // A snapshot's configuration has one encoding: any other is refused, saying why.
  const configurationCases: readonly [string, () => Uint8Array, RegExp][] = [
    ['snapshot addresses out of order', () => withAddressPairs((x, y) => [y, x]), /not sorted by node id/],
    ['snapshot addresses naming a node twice', () => withAddressPairs((x) => [x, x]), /not sorted/],
    [
      'a snapshot addresses flag that is neither 0 nor 1',
      () => withByte(twoAddresses(), -(12 + 2 + 1), 2),
      /addresses flag is 2, not 0 or 1/,
    ],
    ['a learner count larger than the frame', () => withLearnerCount(0xffff), /65535 learner ids cannot fit/],
  ];

  test.each(configurationCases)('%s', (_, make, reason) => {
    expect(decodeFrame(twoAddresses()).type).toBe('snapshot'); // the unaltered frame is valid
    expect(() => decodeFrame(make())).toThrow(FrameError);
    expect(() => decodeFrame(make())).toThrow(reason);
  });

  test('a FrameError carries the stable code', () => {
    try {
      decodeFrame(new Uint8Array(3));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(FrameError);
      expect((err as FrameError).code).toBe('ERR_BAD_FRAME');
    }
  });

  function withByte(bytes: Uint8Array, at: number, value: number): Uint8Array {
    const copy = Uint8Array.from(bytes);
    copy[at < 0 ? copy.length + at : at] = value;
    return copy;
  }

  // app body: from (2+1) to (2+1) term 8 prevIndex 8 prevTerm 8 commit 8 → count at 5 + 38.
  const COUNT_AT = 5 + 38;
  function withEntryCount(n: number): Uint8Array {
    const copy = Uint8Array.from(valid);
    new DataView(copy.buffer).setUint32(COUNT_AT, n, true);
    return copy;
  }
  function withEntryKind(kind: number): Uint8Array {
    return withByte(valid, COUNT_AT + 4 + 16, kind);
  }
  /** A snapshot message whose body ends with two address pairs of 6 bytes each: a→x, b→y. */
  function twoAddresses(): Uint8Array {
    return encodeFrame({
      type: 'snapshot',
      from: 'a',
      to: 'b',
      term: t(1),
      snapshot: { index: i(1), term: t(1), voters: [], addresses: { a: 'x', b: 'y' } },
    });
  }
  function withAddressPairs(order: (x: Uint8Array, y: Uint8Array) => [Uint8Array, Uint8Array]): Uint8Array {
    const b = twoAddresses();
    const [x, y] = order(b.slice(-12, -6), b.slice(-6));
    return Buffer.concat([b.subarray(0, -12), x, y]);
  }
  // snapshot body: from (2+1) to (2+1) term 8 index 8 term 8 voters u16 → learner count at 5 + 32.
  function withLearnerCount(n: number): Uint8Array {
    const copy = Uint8Array.from(twoAddresses());
    new DataView(copy.buffer).setUint16(5 + 32, n, true);
    return copy;
  }
  function handshakeBytes(): Uint8Array {
    return encodeFrame({ type: 'handshake', version: 1, clusterId: 'c', from: 'a', to: 'b' });
  }
});

describe('FrameReader', () => {
  test('cuts any chunking of a stream into the frames that were sent (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
        (frames, cuts) => {
          const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));
          const reader = new FrameReader(FRAME_BYTES_MAX_DEFAULT);
          const out: Frame[] = [];
          let at = 0;
          for (let k = 0; at < stream.length; k++) {
            const n = cuts[k % cuts.length]!;
            reader.push(stream.subarray(at, at + n));
            at += n;
            for (let f = reader.next(); f !== undefined; f = reader.next()) out.push(f);
          }
          expect(out).toEqual(frames);
          expect(reader.pendingBytes).toBe(0);
        },
      ),
      { numRuns: 500, ...replay },
    );
  });

  test('a frame that arrives in one chunk is decoded in place', () => {
    const frame = encodeFrame(EXAMPLES[0]!);
    const reader = new FrameReader(FRAME_BYTES_MAX_DEFAULT);
    reader.push(frame);
    const m = reader.next();
    if (m?.type !== 'app') throw new Error('expected app');
    expect(m.entries[0]!.data.buffer).toBe(frame.buffer);
  });
});
