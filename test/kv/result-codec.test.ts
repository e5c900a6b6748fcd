import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { KvResultError } from '../../src/kv/errors.js';
import { decodeResult, encodeResult } from '../../src/kv/result-codec.js';
import type { KeyValue, KvResult } from '../../src/kv/types.js';
import { b, commandArb, Harness, replay } from './helpers.js';

const rev = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });

/** A key-value whose counters are consistent, as a store makes them. */
const keyValueArb: fc.Arbitrary<KeyValue> = fc
  .record({
    key: fc.uint8Array({ minLength: 1, maxLength: 32 }),
    value: fc.uint8Array({ maxLength: 300 }),
    createRevision: fc.integer({ min: 1, max: 1e9 }),
    span: fc.nat({ max: 1e6 }),
    versionFraction: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map(({ key, value, createRevision, span, versionFraction }) => ({
    key,
    value,
    createRevision,
    modRevision: createRevision + span,
    version: 1 + Math.floor(versionFraction * span),
  }));

const resultArb: fc.Arbitrary<KvResult> = fc.oneof(
  fc.tuple(rev, fc.nat()).map(([revision, back]): KvResult => {
    const createRevision = Math.max(1, revision - back);
    return { ok: true, op: 'put', revision, createRevision, version: 1 + ((revision - createRevision) >> 1) };
  }),
  fc
    .record({ revision: fc.nat(), deleted: fc.boolean() })
    .map((r): KvResult => ({ ok: true, op: 'delete', ...r })),
  fc.tuple(fc.option(keyValueArb, { nil: undefined }), fc.nat({ max: 1000 })).map(
    ([current, extra]): KvResult => ({
      ok: false,
      code: 'ERR_CONDITION_FAILED',
      revision: (current?.modRevision ?? 0) + extra,
      current,
    }),
  ),
  fc.string({ unit: 'binary' }).map((message): KvResult => ({ ok: false, code: 'ERR_BAD_COMMAND', message })),
  fc.maxSafeNat().map((lastSeq): KvResult => ({ ok: false, code: 'ERR_SESSION_STALE', lastSeq })),
);

function decodesOrRejects(bytes: Uint8Array): void {
  try {
    decodeResult(bytes);
  } catch (e) {
    if (!(e instanceof KvResultError)) throw e;
    expect(e.code).toBe('ERR_BAD_RESULT');
  }
}

describe('result codec', () => {
  test('decode(encode(r)) equals r and re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(resultArb, (r) => {
        const bytes = encodeResult(r);
        const back = decodeResult(bytes);
        expect(back).toEqual(r);
        expect(encodeResult(back)).toEqual(bytes);
      }),
      { ...replay, numRuns: 500 },
    );
  });

  test('every result a store returns survives the wire (a follower forwarding a write)', () => {
    fc.assert(
      fc.property(fc.array(commandArb, { maxLength: 40, size: 'max' }), (cmds) => {
        const h = new Harness();
        for (const c of cmds) {
          const r = h.apply(c);
          expect(decodeResult(encodeResult(r))).toEqual(r);
        }
      }),
      { ...replay, numRuns: 100 },
    );
  });

  test('the bytes of small results (docs/kv.md)', () => {
    expect([...encodeResult({ ok: true, op: 'put', revision: 5, createRevision: 2, version: 3 })]).toEqual([
      1, 1, 5, 2, 3,
    ]);
    expect([...encodeResult({ ok: true, op: 'delete', revision: 5, deleted: true })]).toEqual([1, 2, 5, 1]);
    expect([
      ...encodeResult({ ok: false, code: 'ERR_CONDITION_FAILED', revision: 4, current: undefined }),
    ]).toEqual([1, 3, 4, 0]);
    const current = { key: b('k'), value: b('v'), createRevision: 1, modRevision: 2, version: 2 };
    expect([...encodeResult({ ok: false, code: 'ERR_CONDITION_FAILED', revision: 4, current })]).toEqual([
      1, 3, 4, 1, 1, 0x6b, 1, 0x76, 1, 2, 2,
    ]);
    expect([...encodeResult({ ok: false, code: 'ERR_SESSION_STALE', lastSeq: 9 })]).toEqual([1, 5, 9]);
  });

  test('a very long bad-command message is cut at a character boundary', () => {
    const message = 'é'.repeat(40_000);
    const back = decodeResult(encodeResult({ ok: false, code: 'ERR_BAD_COMMAND', message }));
    expect(back).toMatchObject({ code: 'ERR_BAD_COMMAND', message: 'é'.repeat(32 * 1024) });
  });

  test('inconsistent counters, unknown tags and versions are rejected', () => {
    const cases: number[][] = [
      [],
      [2, 1, 1, 1, 1],
      [1, 9],
      [1, 1, 5, 6, 1], // createRevision above revision
      [1, 1, 5, 2, 9], // more versions than puts
      [1, 2, 5, 2], // deleted not a boolean
      [1, 3, 4, 1, 1, 0x6b, 1, 0x76, 1, 9, 2], // current modRevision above the revision
      [1, 3, 4, 1, 0, 1, 0x76, 1, 1, 1], // empty current key
      [1, 5, 9, 0], // trailing byte
    ];
    for (const bytes of cases) expect(() => decodeResult(new Uint8Array(bytes))).toThrow(KvResultError);
  });

  test('fuzz: random and mutated bytes give a result or KvResultError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => decodesOrRejects(bytes)),
      { ...replay, numRuns: 2000 },
    );
    fc.assert(
      fc.property(resultArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (r, at, byte) => {
        const bytes = encodeResult(r);
        bytes[at % bytes.length] = byte;
        decodesOrRejects(bytes);
        decodesOrRejects(bytes.subarray(0, at % bytes.length));
      }),
      { ...replay, numRuns: 2000 },
    );
  });
});
