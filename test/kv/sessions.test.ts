import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { KvStore } from '../../src/kv/kv-store.js';
import { SESSIONS_MAX_CEILING, SESSIONS_MAX_DEFAULT } from '../../src/kv/types.js';
import { ConfigError } from '../../src/raft/errors.js';
import { b, chunked, commandArb, Harness, replay, run, snapshotBytes } from './helpers.js';

const s = (clientId: string, seq: number) => ({ session: { clientId, seq } });

describe('exactly-once', () => {
  test('a retried command returns its first result and the revision does not move', () => {
    const h = new Harness();
    const first = h.put('a', '1', s('c1', 1));
    expect(first).toMatchObject({ ok: true, revision: 1 });
    h.put('b', 'x');
    const retry = h.put('a', '1', s('c1', 1));
    expect(retry).toEqual(first);
    expect(h.store.revision).toBe(2);
    expect(h.store.get(b('a'))).toMatchObject({ version: 1, modRevision: 1 });
  });

  test('a retried delete does not delete a key written again since', () => {
    const h = new Harness();
    h.put('a', '1');
    const first = h.del('a', s('c1', 1));
    h.put('a', '2');
    expect(h.del('a', s('c1', 1))).toEqual(first);
    expect(h.value('a')).toBe('2');
  });

  test('an Idempotency-Key mapped to (idem:key, 1) applies once however often it is sent', () => {
    const h = new Harness();
    const results = [1, 2, 3].map(() => h.put('counter', 'x', s('idem:7f3a', 1)));
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
    expect(h.store.get(b('counter'))?.version).toBe(1);
  });

  test('a higher seq applies, with gaps allowed', () => {
    const h = new Harness();
    h.put('a', '1', s('c1', 1));
    expect(h.put('a', '2', s('c1', 5))).toMatchObject({ ok: true, revision: 2 });
    expect(h.put('a', '3', s('c1', 6))).toMatchObject({ ok: true, revision: 3 });
  });

  test('a seq below the last recorded gets ERR_SESSION_STALE and changes nothing', () => {
    const h = new Harness();
    h.put('a', '1', s('c1', 1));
    h.put('a', '2', s('c1', 2));
    expect(h.put('a', 'old', s('c1', 1))).toEqual({ ok: false, code: 'ERR_SESSION_STALE', lastSeq: 2 });
    expect(h.value('a')).toBe('2');
    expect(h.store.revision).toBe(2);
    // The session still answers its last seq.
    expect(h.put('a', '2', s('c1', 2))).toMatchObject({ ok: true, revision: 2 });
  });

  test('sessions of different clients are independent', () => {
    const h = new Harness();
    h.put('a', '1', s('c1', 1));
    expect(h.put('a', '2', s('c2', 1))).toMatchObject({ ok: true, revision: 2 });
    expect(h.store.sessionCount).toBe(2);
  });

  test('a command without a session is applied every time', () => {
    const h = new Harness();
    h.put('a', '1');
    h.put('a', '1');
    expect(h.store.revision).toBe(2);
    expect(h.store.sessionCount).toBe(0);
  });

  test('a malformed command does not touch the session table', () => {
    const h = new Harness({ sessionsMax: 1, sessionTtlEntries: 1 });
    h.put('a', '1', s('c1', 1));
    h.raw(new Uint8Array([1, 1, 0x80]));
    h.raw(new Uint8Array([1, 1, 0x80]));
    expect(h.store.sessionCount).toBe(1);
  });
});

describe('bounds: LRU eviction by log index of last use', () => {
  test('a full table evicts the session whose last use is oldest; a retry answered counts as a use', () => {
    const h = new Harness({ sessionsMax: 3 });
    h.put('a', '1', s('c1', 1));
    h.put('b', '1', s('c2', 1));
    h.put('c', '1', s('c3', 1));
    h.put('a', '1', s('c1', 1)); // retry: c1 is now the most recently used
    h.put('d', '1', s('c4', 1)); // evicts c2
    expect(h.store.sessionCount).toBe(3);
    expect(h.store.sessionsEvictedTotal).toBe(1);
    expect(h.put('a', '1', s('c1', 1))).toMatchObject({ revision: 1 });
    // c2 was forgotten: its retry is applied a second time (the documented bound).
    expect(h.put('b', '1', s('c2', 1))).toMatchObject({ ok: true, revision: 5 });
    expect(h.store.get(b('b'))?.version).toBe(2);
  });

  test('a new seq of a known client never evicts another session', () => {
    const h = new Harness({ sessionsMax: 2 });
    h.put('a', '1', s('c1', 1));
    h.put('a', '2', s('c2', 1));
    h.put('a', '3', s('c1', 2));
    h.put('a', '4', s('c1', 3));
    expect(h.put('a', '2', s('c2', 1))).toMatchObject({ revision: 2 });
  });

  test('eviction is deterministic: stores fed the same commands end identical, byte for byte', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { maxLength: 80, size: 'max' }),
        fc.integer({ min: 1, max: 4 }),
        async (cmds, max) => {
          const a = run(cmds, { sessionsMax: max });
          const c = run(cmds, { sessionsMax: max });
          expect(a.store.sessionCount).toBeLessThanOrEqual(max);
          expect(await snapshotBytes(a.store)).toEqual(await snapshotBytes(c.store));
        },
      ),
      { ...replay, numRuns: 150 },
    );
  });

  test('a member restored from a snapshot midway forgets the same sessions as one that applied everything', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { maxLength: 60, size: 'max' }),
        fc.array(commandArb, { maxLength: 60, size: 'max' }),
        async (before, after) => {
          const options = { sessionsMax: 2, sessionTtlEntries: 15 };
          const whole = run([...before, ...after], options);
          const head = run(before, options);
          const restored = new Harness(options);
          await restored.store.restore(chunked(await snapshotBytes(head.store), [5, 17]));
          restored.next = head.next;
          const results = after.map((c) => restored.apply(c));
          const expected = run(before, options);
          expect(results).toEqual(after.map((c) => expected.apply(c)));
          expect(await snapshotBytes(restored.store)).toEqual(await snapshotBytes(whole.store));
        },
      ),
      { ...replay, numRuns: 100 },
    );
  });
});

describe('the idempotency-key window: the last sessionsMax keys', () => {
  // An HTTP Idempotency-Key K is the one-shot session (idem:K, 1) (src/server/kv-service.ts).
  const idem = (k: number) => s(`idem:key-${k}`, 1);

  test('a retry within the last sessionsMax keys returns its first result; one key older is applied again', () => {
    const N = 4;
    const h = new Harness({ sessionsMax: N });
    const first = Array.from({ length: N }, (_, k) => h.put('counter', `v${k}`, idem(k)));
    expect(first.map((r) => r.ok && r.revision)).toEqual([1, 2, 3, 4]);
    // Every one of the last N keys, the oldest included, is answered from its session.
    for (let k = 0; k < N; k++) expect(h.put('counter', `v${k}`, idem(k))).toEqual(first[k]);
    expect(h.store.revision).toBe(N);
    expect(h.store.sessionsEvictedTotal).toBe(0);
    // One more key: key 0, the least recently used, is forgotten; keys 1..N are the window.
    expect(h.put('counter', `v${N}`, idem(N))).toMatchObject({ ok: true, revision: N + 1 });
    expect(h.store.sessionsEvictedTotal).toBe(1);
    expect(h.put('counter', 'v1', idem(1))).toEqual(first[1]);
    // Key 0's retry is applied a second time: the documented bound of the window.
    expect(h.put('counter', 'v0', idem(0))).toMatchObject({ ok: true, revision: N + 2 });
    expect(h.store.get(b('counter'))).toMatchObject({ version: N + 2 });
  });

  test('a full table restored from a snapshot keeps the same window and evicts the same key next', async () => {
    const N = 5;
    const h = new Harness({ sessionsMax: N });
    const first = Array.from({ length: N + 2 }, (_, k) => h.put(`k${k % 3}`, `v${k}`, idem(k)));
    expect(h.store.sessionCount).toBe(N);
    const restored = new Harness({ sessionsMax: N });
    await restored.store.restore(chunked(await snapshotBytes(h.store), [3, 11]));
    restored.next = h.next;
    expect(await snapshotBytes(restored.store)).toEqual(await snapshotBytes(h.store));
    for (const store of [h, restored]) {
      // Keys 2..6 are the window: retries answered; key 1 is gone and applies again.
      for (let k = 2; k < N + 2; k++) expect(store.put(`k${k % 3}`, `v${k}`, idem(k))).toEqual(first[k]);
      expect(store.put('k1', 'v1', idem(1))).toMatchObject({ ok: true, revision: N + 3 });
    }
    expect(await snapshotBytes(restored.store)).toEqual(await snapshotBytes(h.store));
  });

  test('sessionsMax defaults to SESSIONS_MAX_DEFAULT and is bounded: a Map holds at most 2^24 entries', () => {
    expect(new KvStore().sessionLimits.sessionsMax).toBe(SESSIONS_MAX_DEFAULT);
    expect(() => new KvStore({ sessionsMax: SESSIONS_MAX_CEILING + 1 })).toThrow(ConfigError);
    expect(new KvStore({ sessionsMax: SESSIONS_MAX_CEILING }).sessionLimits.sessionsMax).toBe(
      SESSIONS_MAX_CEILING,
    );
    expect(SESSIONS_MAX_CEILING).toBeLessThan(2 ** 24);
  });
});

describe('bounds: TTL in log entries', () => {
  test('a session unused for more than sessionTtlEntries entries is forgotten', () => {
    const h = new Harness({ sessionTtlEntries: 5 });
    h.put('a', '1', s('c1', 1)); // index 1
    h.next = 6;
    expect(h.put('a', '1', s('c1', 1))).toMatchObject({ revision: 1 }); // index 6: 1 + 5, still known
    h.next = 12;
    expect(h.put('x', '1')).toMatchObject({ revision: 2 }); // index 12 > 6 + 5: expired
    expect(h.store.sessionCount).toBe(0);
    expect(h.store.sessionsExpiredTotal).toBe(1);
    expect(h.put('a', '1', s('c1', 1))).toMatchObject({ ok: true, revision: 3 });
  });

  test('expiry counts log indexes, not commands: a gap in the indexes ages sessions too', () => {
    const h = new Harness({ sessionTtlEntries: 100 });
    h.put('a', '1', s('c1', 1));
    h.next = 1000;
    h.put('b', '1');
    expect(h.store.sessionCount).toBe(0);
  });
});

describe('session limits travel with the snapshot', () => {
  test('a snapshot written with other limits is refused with ConfigError and the state is kept', async () => {
    const h = new Harness({ sessionsMax: 5 });
    h.put('a', '1', s('c1', 1));
    const other = new Harness({ sessionsMax: 6 });
    other.put('z', '9');
    const before = await snapshotBytes(other.store);
    await expect(other.store.restore(chunked(await snapshotBytes(h.store)))).rejects.toThrow(ConfigError);
    expect(await snapshotBytes(other.store)).toEqual(before);
    const ttl = new KvStore({ sessionsMax: 5, sessionTtlEntries: 3 });
    await expect(ttl.restore(chunked(await snapshotBytes(h.store)))).rejects.toThrow(/sessionTtlEntries/);
  });
});
