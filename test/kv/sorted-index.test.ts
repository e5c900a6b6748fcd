import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { CHUNK_LOAD, type FrozenIndex, SortedIndex, SortedIndexBuilder } from '../../src/kv/sorted-index.js';
import type { KeyValue } from '../../src/kv/types.js';
import { InvariantError } from '../../src/raft/assert.js';
import { replay } from './helpers.js';

function kv(n: number): KeyValue {
  return {
    key: new Uint8Array([n & 0xff]),
    value: new Uint8Array(0),
    createRevision: n,
    modRevision: n,
    version: 1,
  };
}

function entries(view: FrozenIndex): [string, number][] {
  return view.chunks.flatMap((c) => c.keys.map((k, i): [string, number] => [k, c.kvs[i]!.modRevision]));
}

/** Keys drawn from a space of about 4000, so that inserts and deletes collide and chunks split and merge. */
const keyArb = fc.integer({ min: 0, max: 3999 }).map((n) => `k${n.toString(36)}`);
const opArb = fc.oneof(
  { weight: 60, arbitrary: fc.tuple(fc.constant('set' as const), keyArb, fc.integer({ min: 1, max: 1e6 })) },
  { weight: 40, arbitrary: fc.tuple(fc.constant('delete' as const), keyArb, fc.constant(0)) },
  { weight: 1, arbitrary: fc.tuple(fc.constant('freeze' as const), keyArb, fc.constant(0)) },
);

describe('SortedIndex', () => {
  test('agrees with a Map model under random sets, deletes and freezes; frozen views never change', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 6000, size: 'max' }), (ops) => {
        const index = new SortedIndex();
        const model = new Map<string, number>();
        const frozen: [FrozenIndex, [string, number][]][] = [];
        for (const [op, key, rev] of ops) {
          if (op === 'set') {
            index.set(key, kv(rev));
            model.set(key, rev);
          } else if (op === 'delete') {
            const deleted = index.delete(key);
            if (deleted !== model.delete(key)) expect.fail(`delete ${key}: index said ${deleted}`);
          } else {
            const view = index.freeze();
            frozen.push([view, [...model.entries()].sort(([a], [b]) => (a < b ? -1 : 1))]);
          }
          // A plain comparison: expect() per step would dominate the run time.
          if (index.get(key)?.modRevision !== model.get(key)) expect.fail(`get ${key} after ${op}`);
        }
        index.check();
        expect(index.size).toBe(model.size);
        const sorted = [...model.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
        expect(entries(index.freeze())).toEqual(sorted);
        for (const [view, expected] of frozen) {
          expect(entries(view)).toEqual(expected);
          expect(view.size).toBe(expected.length);
        }
      }),
      { ...replay, numRuns: 30 },
    );
  });

  test('chunks split above 2·CHUNK_LOAD keys and merge when small', () => {
    const index = new SortedIndex();
    const n = 10 * CHUNK_LOAD;
    for (let i = 0; i < n; i++) index.set(String(i).padStart(6, '0'), kv(i));
    index.check();
    expect(index.freeze().chunks.length).toBeGreaterThanOrEqual(n / (2 * CHUNK_LOAD));
    for (let i = 0; i < n; i++) if (i % 50 !== 0) index.delete(String(i).padStart(6, '0'));
    index.check();
    expect(index.size).toBe(Math.ceil(n / 50));
    expect(index.freeze().chunks.length).toBeLessThan(5);
  });

  test('scan: prefix, start, exclusivity, limit and more', () => {
    const index = new SortedIndex();
    for (const k of ['a', 'ab', 'abc', 'abd', 'b']) index.set(k, kv(k.length));
    const keys = (s: { items: KeyValue[] }) => s.items.length;
    expect(keys(index.scan('ab', 'ab', false, 10))).toBe(3);
    expect(index.scan('ab', 'ab', true, 10).items.length).toBe(2);
    expect(index.scan('ab', 'ab', false, 2).more).toBe(true);
    expect(index.scan('ab', 'ab', false, 3).more).toBe(false);
    expect(index.scan('', 'zz', false, 3)).toEqual({ items: [], more: false });
  });

  test('the builder makes an index from sorted records and refuses disorder', () => {
    const builder = new SortedIndexBuilder();
    const n = 3 * CHUNK_LOAD + 7;
    for (let i = 0; i < n; i++) builder.push(String(i).padStart(5, '0'), kv(i));
    const index = builder.build();
    expect(index.size).toBe(n);
    expect(index.get('00007')?.modRevision).toBe(7);
    index.set('00007a', kv(1));
    index.check();
    const bad = new SortedIndexBuilder();
    bad.push('b', kv(1));
    expect(() => bad.push('a', kv(2))).toThrow(InvariantError);
  });
});
