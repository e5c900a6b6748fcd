import { describe, expect, test } from 'vitest';
import { b, Harness, snapshotBytes } from './helpers.js';

describe('compare-and-swap put (ifModRevision)', () => {
  test('succeeds when the key exists with that modRevision', () => {
    const h = new Harness();
    h.put('a', '1');
    h.put('other', 'x');
    expect(h.put('a', '2', { ifModRevision: 1 })).toEqual({
      ok: true,
      op: 'put',
      revision: 3,
      createRevision: 1,
      version: 2,
    });
    expect(h.value('a')).toBe('2');
  });

  test('fails when the modRevision differs, returns the current key and changes nothing', () => {
    const h = new Harness();
    h.put('a', '1');
    h.put('a', '2');
    const current = h.store.get(b('a'));
    expect(h.put('a', '3', { ifModRevision: 1 })).toEqual({
      ok: false,
      code: 'ERR_CONDITION_FAILED',
      revision: 2,
      current,
    });
    expect(h.value('a')).toBe('2');
    expect(h.store.revision).toBe(2);
  });

  test('fails on a missing key with current undefined', () => {
    const h = new Harness();
    expect(h.put('a', '1', { ifModRevision: 1 })).toEqual({
      ok: false,
      code: 'ERR_CONDITION_FAILED',
      revision: 0,
      current: undefined,
    });
    expect(h.store.size).toBe(0);
    expect(h.store.revision).toBe(0);
  });

  test('fails on a key deleted and recreated since (the modRevision is new)', () => {
    const h = new Harness();
    h.put('a', '1');
    h.del('a');
    h.put('a', '1');
    expect(h.put('a', '2', { ifModRevision: 1 })).toMatchObject({ ok: false, code: 'ERR_CONDITION_FAILED' });
    expect(h.put('a', '2', { ifModRevision: 3 })).toMatchObject({ ok: true, revision: 4, version: 2 });
  });
});

describe('create-only put (ifAbsent)', () => {
  test('creates a missing key', () => {
    const h = new Harness();
    expect(h.put('a', '1', { ifAbsent: true })).toMatchObject({ ok: true, revision: 1, version: 1 });
    expect(h.value('a')).toBe('1');
  });

  test('fails on an existing key and returns it', () => {
    const h = new Harness();
    h.put('a', '1');
    expect(h.put('a', '2', { ifAbsent: true })).toEqual({
      ok: false,
      code: 'ERR_CONDITION_FAILED',
      revision: 1,
      current: h.store.get(b('a')),
    });
    expect(h.value('a')).toBe('1');
    expect(h.store.revision).toBe(1);
  });

  test('succeeds again once the key was deleted', () => {
    const h = new Harness();
    h.put('a', '1');
    h.del('a');
    expect(h.put('a', '2', { ifAbsent: true })).toMatchObject({ ok: true, revision: 3, createRevision: 3 });
  });
});

describe('conditional delete (ifModRevision)', () => {
  test('deletes when the modRevision matches', () => {
    const h = new Harness();
    h.put('a', '1');
    expect(h.del('a', { ifModRevision: 1 })).toEqual({ ok: true, op: 'delete', revision: 2, deleted: true });
    expect(h.store.get(b('a'))).toBeUndefined();
  });

  test('fails when the modRevision differs and keeps the key', () => {
    const h = new Harness();
    h.put('a', '1');
    h.put('a', '2');
    expect(h.del('a', { ifModRevision: 1 })).toMatchObject({
      ok: false,
      code: 'ERR_CONDITION_FAILED',
      revision: 2,
      current: { modRevision: 2, value: b('2') },
    });
    expect(h.value('a')).toBe('2');
    expect(h.store.revision).toBe(2);
  });

  test('fails on a missing key (a condition on a missing key never holds)', () => {
    const h = new Harness();
    expect(h.del('a', { ifModRevision: 1 })).toEqual({
      ok: false,
      code: 'ERR_CONDITION_FAILED',
      revision: 0,
      current: undefined,
    });
  });
});

test('a failed condition with a session is recorded: its retry gets the same failure', () => {
  const h = new Harness();
  const session = { clientId: 'c', seq: 1 };
  h.put('a', '1');
  const first = h.put('a', 'x', { ifModRevision: 7, session });
  expect(first).toMatchObject({ ok: false, code: 'ERR_CONDITION_FAILED', revision: 1 });
  // While the key is unchanged, the retry's answer is the first one exactly, value included.
  expect(h.put('a', 'x', { ifModRevision: 7, session })).toEqual(first);
  h.put('a', '2');
  h.put('a', '3');
  h.put('a', '4');
  h.put('a', '5');
  h.put('a', '6');
  // The retry is answered from the session, not evaluated again: still a failure (it failed when
  // it applied), shown with the key as it is now.
  const retry = h.put('a', 'x', { ifModRevision: 7, session });
  expect(retry).toMatchObject({ ok: false, code: 'ERR_CONDITION_FAILED', revision: 6 });
  expect(retry.ok === false && retry.code === 'ERR_CONDITION_FAILED' && retry.current?.modRevision).toBe(6);
  expect(h.value('a')).toBe('6');
});

test('a session does not keep the value of a failed condition’s key (bounded memory and snapshots)', async () => {
  const h = new Harness();
  const big = 'v'.repeat(100_000);
  h.put('a', big);
  const before = (await snapshotBytes(h.store)).length;
  for (let c = 0; c < 5; c++) h.put('a', 'x', { ifModRevision: 99, session: { clientId: `c${c}`, seq: 1 } });
  const after = (await snapshotBytes(h.store)).length;
  expect(after - before).toBeLessThan(5 * 1000); // five sessions, not five more copies of 100 KB
});
