import { describe, expect, test } from 'vitest';
import { KvLimitError } from '../../src/kv/errors.js';
import { KvStore } from '../../src/kv/kv-store.js';
import { InvariantError } from '../../src/raft/assert.js';
import { ConfigError } from '../../src/raft/errors.js';
import { index } from '../../src/raft/types.js';
import { b, Harness, put } from './helpers.js';

describe('an empty store', () => {
  test('has revision 0, no keys, no sessions and applied nothing', () => {
    const s = new KvStore();
    expect(s.revision).toBe(0);
    expect(s.size).toBe(0);
    expect(s.sessionCount).toBe(0);
    expect(s.appliedIndex).toBe(0);
    expect(s.get(b('a'))).toBeUndefined();
    expect(s.range()).toEqual({ items: [], revision: 0, more: false });
  });

  test('rejects bad options with a ConfigError naming the field', () => {
    expect(() => new KvStore({ sessionsMax: 0 })).toThrow(/sessionsMax/);
    expect(() => new KvStore({ sessionsMax: 1.5 })).toThrow(ConfigError);
    expect(() => new KvStore({ sessionTtlEntries: 0 })).toThrow(/sessionTtlEntries/);
    expect(new KvStore({ sessionsMax: 3, sessionTtlEntries: 9 }).sessionLimits).toEqual({
      sessionsMax: 3,
      sessionTtlEntries: 9,
    });
  });
});

describe('revision rules', () => {
  test('a put that creates a key: revision +1, createRevision = modRevision = revision, version 1', () => {
    const h = new Harness();
    expect(h.put('a', '1')).toEqual({ ok: true, op: 'put', revision: 1, createRevision: 1, version: 1 });
    expect(h.store.get(b('a'))).toEqual({
      key: b('a'),
      value: b('1'),
      createRevision: 1,
      modRevision: 1,
      version: 1,
    });
    expect(h.store.revision).toBe(1);
    expect(h.store.size).toBe(1);
  });

  test('a put that updates a key keeps createRevision and bumps modRevision and version', () => {
    const h = new Harness();
    h.put('a', '1');
    h.put('b', 'x');
    expect(h.put('a', '2')).toEqual({ ok: true, op: 'put', revision: 3, createRevision: 1, version: 2 });
    expect(h.store.get(b('a'))).toMatchObject({
      value: b('2'),
      createRevision: 1,
      modRevision: 3,
      version: 2,
    });
    expect(h.store.get(b('b'))).toMatchObject({ createRevision: 2, modRevision: 2, version: 1 });
  });

  test('a put of the same value still counts as a write (etcd semantics)', () => {
    const h = new Harness();
    h.put('a', 'same');
    expect(h.put('a', 'same')).toMatchObject({ revision: 2, version: 2 });
  });

  test('a delete that deletes bumps the revision and removes the key', () => {
    const h = new Harness();
    h.put('a', '1');
    expect(h.del('a')).toEqual({ ok: true, op: 'delete', revision: 2, deleted: true });
    expect(h.store.get(b('a'))).toBeUndefined();
    expect(h.store.size).toBe(0);
    expect(h.store.revision).toBe(2);
  });

  test('a delete of a missing key changes nothing but the applied index', () => {
    const h = new Harness();
    h.put('a', '1');
    expect(h.del('zzz')).toEqual({ ok: true, op: 'delete', revision: 1, deleted: false });
    expect(h.store.revision).toBe(1);
    expect(h.store.appliedIndex).toBe(2);
  });

  test('a put after a delete recreates the key: version 1 and a new createRevision', () => {
    const h = new Harness();
    h.put('a', '1');
    h.put('a', '2');
    h.del('a');
    expect(h.put('a', '3')).toEqual({ ok: true, op: 'put', revision: 4, createRevision: 4, version: 1 });
    expect(h.store.get(b('a'))).toMatchObject({ createRevision: 4, modRevision: 4, version: 1 });
  });

  test('an empty value is a value', () => {
    const h = new Harness();
    h.put('a', '');
    expect(h.store.get(b('a'))?.value).toEqual(new Uint8Array(0));
  });
});

describe('keys are bytes', () => {
  test('keys that differ in any byte are different keys, including 0x00 and 0xff', () => {
    const h = new Harness();
    const keys = [[0x00], [0xff], [0x80], [0xc2, 0x80], [0x61, 0x00], [0x61]].map((k) => new Uint8Array(k));
    keys.forEach((key, i) => {
      h.apply({ op: 'put', key, value: new Uint8Array([i]) });
    });
    expect(h.store.size).toBe(keys.length);
    keys.forEach((key, i) => {
      expect(h.store.get(key)?.value).toEqual(new Uint8Array([i]));
    });
  });

  test('the store keeps its own copy of keys and values', () => {
    const h = new Harness();
    const bytes = put('k', 'v');
    h.raw(bytes);
    bytes.fill(0x21);
    expect(h.value('k')).toBe('v');
    expect(h.store.get(b('k'))?.key).toEqual(b('k'));
  });

  test('a key is found whatever buffer or offset its bytes sit in', () => {
    const h = new Harness();
    h.put('key', 'v');
    const framed = new Uint8Array([9, 9, ...b('key'), 9]).subarray(2, 5);
    expect(h.store.get(framed)?.value).toEqual(b('v'));
    expect(h.store.get(Buffer.from('key'))?.value).toEqual(b('v'));
  });

  test('get refuses an empty or oversized key with ERR_BAD_KEY', () => {
    const s = new KvStore();
    expect(() => s.get(new Uint8Array(0))).toThrow(KvLimitError);
    expect(() => s.get(new Uint8Array(4097))).toThrow(expect.objectContaining({ code: 'ERR_BAD_KEY' }));
    expect(s.get(new Uint8Array(4096))).toBeUndefined();
  });
});

describe('apply', () => {
  test('a malformed command returns ERR_BAD_COMMAND and changes nothing', () => {
    const h = new Harness();
    h.put('a', '1');
    for (const bad of [
      new Uint8Array(0),
      new Uint8Array([1]),
      new Uint8Array([9, 1, 0]),
      put('a', '2').subarray(0, 5),
    ]) {
      const result = h.raw(bad);
      expect(result).toMatchObject({ ok: false, code: 'ERR_BAD_COMMAND' });
      expect(result.ok === false && result.code === 'ERR_BAD_COMMAND' && result.message).toMatch(
        /bad KV command/,
      );
    }
    expect(h.store.revision).toBe(1);
    expect(h.value('a')).toBe('1');
    expect(h.store.appliedIndex).toBe(5);
  });

  test('apply at an index not above the applied index is a bug and throws', () => {
    const s = new KvStore();
    s.apply(put('a', '1'), index(5));
    expect(() => s.apply(put('a', '2'), index(5))).toThrow(InvariantError);
    expect(() => s.apply(put('a', '2'), index(4))).toThrow(InvariantError);
    expect(s.apply(put('a', '2'), index(9))).toMatchObject({ ok: true, revision: 2 });
    expect(s.appliedIndex).toBe(9);
  });
});
