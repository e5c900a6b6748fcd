import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { decodeCommand, encodeCommand } from '../../src/kv/command-codec.js';
import { KvCommandError, KvLimitError } from '../../src/kv/errors.js';
import { KvStore } from '../../src/kv/kv-store.js';
import {
  KEY_BYTES_MAX,
  type KvCommand,
  VALUE_BYTES_CEILING,
  VALUE_BYTES_MAX_DEFAULT,
} from '../../src/kv/types.js';
import { ConfigError } from '../../src/raft/errors.js';
import { index } from '../../src/raft/types.js';
import { b, replay } from './helpers.js';

const seqArb = fc.oneof(fc.nat({ max: 300 }), fc.constant(Number.MAX_SAFE_INTEGER), fc.maxSafeNat());
const revArb = fc.oneof(
  fc.integer({ min: 1, max: 300 }),
  fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
);
const sessionArb = fc.option(
  fc.record({ clientId: fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }), seq: seqArb }),
  { nil: undefined },
);

/** Every shape of command, with keys up to the limit and values of any size up to 2 KiB. */
const anyCommand: fc.Arbitrary<KvCommand> = fc.oneof(
  fc
    .record({
      key: fc.uint8Array({ minLength: 1, maxLength: 64 }),
      value: fc.uint8Array({ maxLength: 2048 }),
      cond: fc.constantFrom('none', 'rev', 'absent'),
      rev: revArb,
      session: sessionArb,
    })
    .map(
      ({ key, value, cond, rev, session }): KvCommand => ({
        op: 'put',
        key,
        value,
        ifModRevision: cond === 'rev' ? rev : undefined,
        ifAbsent: cond === 'absent' ? true : undefined,
        session,
      }),
    ),
  fc
    .record({
      key: fc.uint8Array({ minLength: 1, maxLength: 64 }),
      rev: fc.option(revArb, { nil: undefined }),
      session: sessionArb,
    })
    .map(({ key, rev, session }): KvCommand => ({ op: 'delete', key, ifModRevision: rev, session })),
);

/** Decoding throws nothing but KvCommandError; returns whether it decoded. */
function decodesOrRejects(bytes: Uint8Array): boolean {
  try {
    decodeCommand(bytes);
    return true;
  } catch (e) {
    if (!(e instanceof KvCommandError)) throw e;
    expect(e.code).toBe('ERR_BAD_COMMAND');
    return false;
  }
}

describe('round trip', () => {
  test('decode(encode(c)) equals c for every command shape', () => {
    fc.assert(
      fc.property(anyCommand, (c) => {
        expect(decodeCommand(encodeCommand(c))).toEqual(c);
      }),
      { ...replay, numRuns: 500 },
    );
  });

  test('encode(decode(bytes)) gives back the same bytes (one encoding per command)', () => {
    fc.assert(
      fc.property(anyCommand, (c) => {
        const bytes = encodeCommand(c);
        expect(encodeCommand(decodeCommand(bytes))).toEqual(bytes);
      }),
      { ...replay, numRuns: 300 },
    );
  });

  test('the bytes of a put with a session and a condition (docs/kv.md)', () => {
    const bytes = encodeCommand({
      op: 'put',
      key: b('k'),
      value: b('vv'),
      ifModRevision: 300,
      session: { clientId: 'c', seq: 2 },
    });
    // version 1, op put, flags session|ifModRevision, "c", seq 2, rev 300 = 0xac 0x02, key, value
    expect([...bytes]).toEqual([1, 1, 3, 1, 0x63, 2, 0xac, 0x02, 1, 0x6b, 2, 0x76, 0x76]);
    expect([...encodeCommand({ op: 'delete', key: b('k'), ifModRevision: undefined })]).toEqual([
      1, 2, 0, 1, 0x6b,
    ]);
    expect([...encodeCommand({ op: 'put', key: b('k'), value: b(''), ifAbsent: true })]).toEqual([
      1, 1, 4, 1, 0x6b, 0,
    ]);
  });

  test('decoded key and value are views of the input, not copies', () => {
    const bytes = encodeCommand({ op: 'put', key: b('k'), value: b('v') });
    const c = decodeCommand(bytes);
    expect(c.key.buffer).toBe(bytes.buffer);
  });
});

describe('limits at encode time', () => {
  const key = b('k');
  test('keys: non-empty, at most 4 KiB (ERR_BAD_KEY)', () => {
    expect(() => encodeCommand({ op: 'delete', key: new Uint8Array(0) })).toThrow(
      expect.objectContaining({ code: 'ERR_BAD_KEY' }),
    );
    expect(() => encodeCommand({ op: 'delete', key: new Uint8Array(KEY_BYTES_MAX + 1) })).toThrow(
      KvLimitError,
    );
    expect(
      decodeCommand(encodeCommand({ op: 'delete', key: new Uint8Array(KEY_BYTES_MAX) })).key.length,
    ).toBe(KEY_BYTES_MAX);
  });

  test('values: at most 1 MiB by default, configurable up to the ceiling (ERR_TOO_LARGE)', () => {
    const max = new Uint8Array(VALUE_BYTES_MAX_DEFAULT);
    expect(encodeCommand({ op: 'put', key, value: max }).length).toBeGreaterThan(VALUE_BYTES_MAX_DEFAULT);
    const over = new Uint8Array(VALUE_BYTES_MAX_DEFAULT + 1);
    expect(() => encodeCommand({ op: 'put', key, value: over })).toThrow(
      expect.objectContaining({ code: 'ERR_TOO_LARGE', message: expect.stringMatching(/1048576 bytes/) }),
    );
    expect(() => encodeCommand({ op: 'put', key, value: b('12345') }, { valueBytesMax: 4 })).toThrow(
      KvLimitError,
    );
    expect(
      encodeCommand({ op: 'put', key, value: over }, { valueBytesMax: 2 * VALUE_BYTES_MAX_DEFAULT }),
    ).toBeTruthy();
    expect(() =>
      encodeCommand({ op: 'put', key, value: b('') }, { valueBytesMax: VALUE_BYTES_CEILING + 1 }),
    ).toThrow(ConfigError);
  });

  test('sessions: a non-empty client id of at most 256 UTF-8 bytes and a u53 seq (ERR_BAD_SESSION)', () => {
    const bad = [
      { clientId: '', seq: 1 },
      { clientId: 'é'.repeat(129), seq: 1 },
      { clientId: 'c', seq: -1 },
      { clientId: 'c', seq: 1.5 },
      { clientId: 'c', seq: 2 ** 53 },
    ];
    for (const session of bad) {
      expect(() => encodeCommand({ op: 'delete', key, session })).toThrow(
        expect.objectContaining({ code: 'ERR_BAD_SESSION' }),
      );
    }
    expect(encodeCommand({ op: 'delete', key, session: { clientId: 'x'.repeat(256), seq: 0 } })).toBeTruthy();
  });

  test('malformed commands: both conditions, a revision that is not a positive integer, an unknown op', () => {
    const value = b('v');
    expect(() => encodeCommand({ op: 'put', key, value, ifAbsent: true, ifModRevision: 1 })).toThrow(
      KvCommandError,
    );
    expect(() => encodeCommand({ op: 'put', key, value, ifModRevision: 0 })).toThrow(KvCommandError);
    expect(() => encodeCommand({ op: 'delete', key, ifModRevision: 1.5 })).toThrow(KvCommandError);
    expect(() => encodeCommand({ op: 'get', key } as unknown as KvCommand)).toThrow(/unknown op/);
  });
});

describe('decodeCommand rejects malformed bytes with KvCommandError', () => {
  const good = encodeCommand({
    op: 'put',
    key: b('key'),
    value: b('value'),
    session: { clientId: 'c', seq: 1 },
  });
  const cases: [string, number[] | Uint8Array, RegExp][] = [
    ['empty', [], /codec version: truncated/],
    ['unknown version', [2, 1, 0, 1, 0x6b, 0], /unknown version 2/],
    ['unknown op', [1, 3, 0, 1, 0x6b], /unknown op 3/],
    ['unknown flag bits', [1, 2, 8, 1, 0x6b], /unknown flag bits/],
    ['ifAbsent on a delete', [1, 2, 4, 1, 0x6b], /ifAbsent/],
    ['ifAbsent with ifModRevision', [1, 1, 6, 1, 1, 0x6b, 0], /ifAbsent/],
    ['ifModRevision 0', [1, 2, 2, 0, 1, 0x6b], /zero/],
    ['empty key', [1, 2, 0, 0], /key: empty/],
    ['key over 4 KiB', [1, 2, 0, 0x81, 0x20], /above the limit 4096/],
    ['truncated key', [1, 2, 0, 5, 0x6b], /key: truncated/],
    ['missing value', [1, 1, 0, 1, 0x6b], /value: truncated/],
    ['trailing bytes', [1, 2, 0, 1, 0x6b, 0], /trailing/],
    ['overlong varint', [1, 2, 0, 0x81, 0x00, 0x6b], /overlong/],
    ['varint over 8 bytes', [1, 2, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], /longer than 8/],
    ['varint above 2^53', [1, 2, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], /2\^53/],
    ['empty client id', [1, 2, 1, 0, 1, 1, 0x6b], /clientId: empty/],
    ['invalid UTF-8 client id', [1, 2, 1, 1, 0xff, 1, 1, 0x6b], /invalid UTF-8/],
    ['a put cut short', good.subarray(0, good.length - 1), /truncated/],
  ];
  for (const [name, bytes, message] of cases) {
    test(name, () => {
      expect(() => decodeCommand(new Uint8Array(bytes))).toThrow(KvCommandError);
      expect(() => decodeCommand(new Uint8Array(bytes))).toThrow(message);
    });
  }
});

describe('fuzz', () => {
  test('random bytes: decodeCommand throws nothing but KvCommandError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        decodesOrRejects(bytes);
      }),
      { ...replay, numRuns: 3000 },
    );
  });

  test('random bytes after a valid header: decodeCommand throws nothing but KvCommandError', () => {
    const header = fc.tuple(fc.constant(1), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 8 }));
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 40 }), (h, tail) => {
        decodesOrRejects(new Uint8Array([...h, ...tail]));
      }),
      { ...replay, numRuns: 3000 },
    );
  });

  test('mutated valid commands (flips, cuts, insertions): only KvCommandError; apply never throws', () => {
    const mutation = fc.record({
      at: fc.nat(),
      kind: fc.constantFrom('flip', 'cut', 'insert', 'set'),
      byte: fc.integer({ min: 0, max: 255 }),
    });
    fc.assert(
      fc.property(anyCommand, fc.array(mutation, { minLength: 1, maxLength: 4 }), (c, mutations) => {
        let bytes = encodeCommand(c);
        for (const m of mutations) {
          const at = bytes.length === 0 ? 0 : m.at % bytes.length;
          if (m.kind === 'flip') bytes[at]! ^= 1 << (m.byte % 8);
          else if (m.kind === 'set') bytes[at] = m.byte;
          else if (m.kind === 'cut') bytes = bytes.subarray(0, at);
          else bytes = new Uint8Array([...bytes.subarray(0, at), m.byte, ...bytes.subarray(at)]);
        }
        const decodes = decodesOrRejects(bytes);
        const result = new KvStore().apply(bytes, index(1));
        if (!decodes) expect(result).toMatchObject({ ok: false, code: 'ERR_BAD_COMMAND' });
        else expect(result.ok === false && result.code === 'ERR_BAD_COMMAND').toBe(false);
      }),
      { ...replay, numRuns: 2000 },
    );
  });
});
