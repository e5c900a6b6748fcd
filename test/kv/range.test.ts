import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { latin1 } from '../../src/kv/bytes.js';
import { KvLimitError } from '../../src/kv/errors.js';
import { RANGE_LIMIT_DEFAULT } from '../../src/kv/types.js';
import { b, Harness, replay } from './helpers.js';

const keysOf = (r: { items: { key: Uint8Array }[] }) => r.items.map((kv) => new TextDecoder().decode(kv.key));

function store(keys: readonly string[]): Harness {
  const h = new Harness();
  for (const k of keys) h.put(k, `v:${k}`);
  return h;
}

describe('range by prefix', () => {
  test('returns the keys with the prefix, sorted by bytes, with the store revision', () => {
    const h = store(['user/2', 'user/10', 'users', 'user/1', 'admin/1', 'user/']);
    h.del('users');
    const r = h.store.range({ prefix: b('user/') });
    expect(keysOf(r)).toEqual(['user/', 'user/1', 'user/10', 'user/2']);
    expect(r.revision).toBe(7);
    expect(r.more).toBe(false);
    expect(r.items[1]).toEqual(h.store.get(b('user/1')));
  });

  test('byte order, not UTF-16 or locale order', () => {
    const h = store(['Z', 'a', 'é', '\u{1F600}', '\uFFFD', 'ab']);
    // UTF-8: 'Z' 5a < 'a' 61 < 'ab' < 'é' c3 a9 < U+FFFD ef bf bd < U+1F600 f0 9f 98 80
    expect(keysOf(h.store.range())).toEqual(['Z', 'a', 'ab', 'é', '\uFFFD', '\u{1F600}']);
  });

  test('no prefix or an empty prefix ranges over every key', () => {
    const h = store(['b', 'a', 'c']);
    expect(keysOf(h.store.range())).toEqual(['a', 'b', 'c']);
    expect(keysOf(h.store.range({ prefix: new Uint8Array(0) }))).toEqual(['a', 'b', 'c']);
  });

  test('a prefix that matches nothing, between and after keys', () => {
    const h = store(['a', 'c']);
    expect(h.store.range({ prefix: b('b') })).toEqual({ items: [], revision: 2, more: false });
    expect(h.store.range({ prefix: b('d') })).toEqual({ items: [], revision: 2, more: false });
  });

  test('limit cuts the list and sets more only when a further key matches', () => {
    const h = store(['p1', 'p2', 'p3', 'q']);
    expect(h.store.range({ prefix: b('p'), limit: 2 })).toMatchObject({ more: true });
    expect(keysOf(h.store.range({ prefix: b('p'), limit: 2 }))).toEqual(['p1', 'p2']);
    expect(h.store.range({ prefix: b('p'), limit: 3 })).toMatchObject({ more: false });
    expect(h.store.range({ prefix: b('p'), limit: 4 })).toMatchObject({ more: false });
  });

  test('after continues a range past its last item', () => {
    const h = store(['p1', 'p2', 'p3', 'p4', 'p5', 'q']);
    const first = h.store.range({ prefix: b('p'), limit: 2 });
    const second = h.store.range({ prefix: b('p'), limit: 2, after: first.items.at(-1)!.key });
    const third = h.store.range({ prefix: b('p'), limit: 2, after: second.items.at(-1)!.key });
    expect([keysOf(first), keysOf(second), keysOf(third)]).toEqual([['p1', 'p2'], ['p3', 'p4'], ['p5']]);
    expect(third.more).toBe(false);
    // An `after` below the prefix starts at the prefix; a missing `after` key works too.
    expect(keysOf(h.store.range({ prefix: b('p'), after: b('a') }))).toEqual(['p1', 'p2', 'p3', 'p4', 'p5']);
    expect(keysOf(h.store.range({ prefix: b('p'), after: b('p2x') }))).toEqual(['p3', 'p4', 'p5']);
  });

  test('the default limit is RANGE_LIMIT_DEFAULT', () => {
    const h = new Harness();
    for (let i = 0; i <= RANGE_LIMIT_DEFAULT; i++) h.put(`k${i}`, '');
    const r = h.store.range();
    expect(r.items.length).toBe(RANGE_LIMIT_DEFAULT);
    expect(r.more).toBe(true);
  });

  test('a limit that is not a positive integer is refused with ERR_BAD_LIMIT', () => {
    const h = store(['a']);
    for (const limit of [0, -1, 1.5, Number.NaN]) {
      expect(() => h.store.range({ limit })).toThrow(expect.objectContaining({ code: 'ERR_BAD_LIMIT' }));
    }
    expect(() => h.store.range({ prefix: new Uint8Array(4097) })).toThrow(KvLimitError);
    expect(() => h.store.range({ after: new Uint8Array(0) })).toThrow(KvLimitError);
  });

  test('matches a sorted-array model over thousands of keys and random prefixes, limits and starts', () => {
    const key = fc.uint8Array({ minLength: 1, maxLength: 4 }).map((k) => k.map((x) => 0x60 + (x % 4)));
    fc.assert(
      fc.property(
        fc.uniqueArray(key, { maxLength: 2500, selector: latin1, size: 'max' }),
        fc.array(fc.tuple(key, fc.nat({ max: 3 }), fc.integer({ min: 1, max: 3000 }), fc.option(key)), {
          maxLength: 20,
        }),
        (keys, queries) => {
          const h = new Harness();
          for (const k of keys) h.apply({ op: 'put', key: k, value: k });
          const model = keys.map(latin1).sort();
          for (const [q, cut, limit, after] of queries) {
            const prefix = latin1(q.subarray(0, cut));
            const afterKey = after === null ? undefined : latin1(after);
            const matching = model.filter(
              (k) => k.startsWith(prefix) && (afterKey === undefined || k > afterKey),
            );
            const r = h.store.range({ prefix: q.subarray(0, cut), limit, after: after ?? undefined });
            expect(r.items.map((kv) => latin1(kv.key))).toEqual(matching.slice(0, limit));
            expect(r.more).toBe(matching.length > limit);
          }
        },
      ),
      { ...replay, numRuns: 40 },
    );
  });
});
