import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { crc32 } from '../../src/kv/crc32.js';
import { KvSnapshotError } from '../../src/kv/errors.js';
import { KvStore } from '../../src/kv/kv-store.js';
import { SNAPSHOT_CHUNK_BYTES } from '../../src/kv/snapshot-writer.js';
import { ConfigError } from '../../src/raft/errors.js';
import {
  b,
  chunked,
  commandArb,
  concat,
  Harness,
  replay,
  run,
  snapshotBytes,
  snapshotChunks,
} from './helpers.js';

const OPTIONS = { sessionsMax: 3 };

/** A store with some keys, a deleted key and sessions. */
function sample(): Harness {
  const h = new Harness(OPTIONS);
  h.put('alpha', '1', { session: { clientId: 'c1', seq: 1 } });
  h.put('beta', '2');
  h.put('gamma', '3', { session: { clientId: 'c2', seq: 4 } });
  h.del('beta');
  h.put('alpha', 'x', { ifModRevision: 9, session: { clientId: 'c3', seq: 1 } }); // recorded failure
  return h;
}

/** Restore must fail with KvSnapshotError and leave `h` exactly as it was. */
async function expectRejected(h: Harness, stream: AsyncIterable<Uint8Array>): Promise<KvSnapshotError> {
  const before = await snapshotBytes(h.store);
  const revision = h.store.revision;
  let error: unknown;
  try {
    await h.store.restore(stream);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(KvSnapshotError);
  expect((error as KvSnapshotError).code).toBe('ERR_BAD_SNAPSHOT');
  expect(h.store.revision).toBe(revision);
  expect(await snapshotBytes(h.store)).toEqual(before);
  return error as KvSnapshotError;
}

/** `bytes` with its trailer recomputed, so that only the semantic checks can catch a change. */
function resealed(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const body = out.subarray(0, out.length - 4);
  new DataView(out.buffer).setUint32(out.length - 4, crc32(body), true);
  return out;
}

describe('snapshot and restore', () => {
  test('an empty store round-trips', async () => {
    const s = new KvStore();
    const bytes = await snapshotBytes(s);
    const t = new KvStore();
    await t.restore(chunked(bytes));
    expect(await snapshotBytes(t)).toEqual(bytes);
    expect(t.revision).toBe(0);
  });

  test('restore brings back keys, counters, revision, applied index and sessions', async () => {
    const h = sample();
    const t = new Harness(OPTIONS);
    t.put('stale', 'gone');
    await t.store.restore(h.store.snapshot());
    expect(t.store.revision).toBe(4);
    expect(t.store.appliedIndex).toBe(5);
    expect(t.store.size).toBe(2);
    expect(t.store.get(b('stale'))).toBeUndefined();
    expect(t.store.get(b('alpha'))).toEqual(h.store.get(b('alpha')));
    expect(t.store.range()).toEqual(h.store.range());
    // Sessions came along: retries are still answered from them.
    t.next = 6;
    expect(t.put('alpha', '1', { session: { clientId: 'c1', seq: 1 } })).toMatchObject({ revision: 1 });
    expect(t.put('alpha', 'x', { ifModRevision: 9, session: { clientId: 'c3', seq: 1 } })).toMatchObject({
      code: 'ERR_CONDITION_FAILED',
      revision: 4,
    });
  });

  test('determinism: stores applying the same commands produce identical snapshot bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { maxLength: 100, size: 'max' }), async (cmds) => {
        const a = run(cmds, OPTIONS, true);
        const c = run(cmds, OPTIONS, true);
        expect(await snapshotBytes(a.store)).toEqual(await snapshotBytes(c.store));
      }),
      { ...replay, numRuns: 150 },
    );
  });

  test('round trip: restore(snapshot) reproduces the state, however the stream is cut', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { maxLength: 100, size: 'max' }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 5 }),
        async (cmds, cuts) => {
          const a = run(cmds, OPTIONS, true);
          const bytes = await snapshotBytes(a.store);
          const t = new KvStore(OPTIONS);
          await t.restore(chunked(bytes, cuts));
          expect(await snapshotBytes(t)).toEqual(bytes);
          expect(t.range({ limit: 1000 })).toEqual(a.store.range({ limit: 1000 }));
          expect([t.revision, t.appliedIndex, t.sessionCount]).toEqual([
            a.store.revision,
            a.store.appliedIndex,
            a.store.sessionCount,
          ]);
        },
      ),
      { ...replay, numRuns: 150 },
    );
  });

  test('chunks are 64 KiB except the last; values larger than a chunk span several', async () => {
    const h = new Harness();
    const big = new Uint8Array(1024 * 1024).map((_, i) => i * 7);
    h.apply({ op: 'put', key: b('big'), value: big });
    for (let i = 0; i < 3000; i++) h.put(`k${String(i).padStart(5, '0')}`, 'v'.repeat(i % 200));
    const chunks = await snapshotChunks(h.store);
    expect(chunks.length).toBeGreaterThan(17);
    for (const c of chunks.slice(0, -1)) expect(c.length).toBe(SNAPSHOT_CHUNK_BYTES);
    expect(chunks.at(-1)!.length).toBeLessThanOrEqual(SNAPSHOT_CHUNK_BYTES);
    const t = new KvStore();
    await t.restore(chunked(concat(chunks), [SNAPSHOT_CHUNK_BYTES - 1, 3, 100_000]));
    expect(Buffer.from(t.get(b('big'))!.value).equals(big)).toBe(true);
    expect(t.size).toBe(3001);
  });

  test('the snapshot is the state when snapshot() returned, whatever is applied while it streams', async () => {
    const h = new Harness();
    for (let i = 0; i < 2500; i++) h.put(`key${i}`, `v${i}`);
    const expected = await snapshotBytes(h.store);
    const stream = h.store.snapshot()[Symbol.asyncIterator]();
    const first = await stream.next();
    // Overwrite, delete and insert enough keys to split, merge and copy every chunk.
    for (let i = 0; i < 2500; i += 2) h.put(`key${i}`, 'changed');
    for (let i = 1; i < 2500; i += 4) h.del(`key${i}`);
    for (let i = 0; i < 3000; i++) h.put(`new${i}`, 'n');
    const rest: Uint8Array[] = [first.value as Uint8Array];
    for (let r = await stream.next(); r.done !== true; r = await stream.next()) rest.push(r.value);
    expect(concat(rest)).toEqual(expected);
    expect(h.store.get(b('key0'))?.value).toEqual(b('changed'));
  });

  test('a store restored midway and one that applied everything agree', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { maxLength: 60, size: 'max' }),
        fc.array(commandArb, { maxLength: 60, size: 'max' }),
        async (x, y) => {
          const whole = run([...x, ...y], OPTIONS);
          const head = run(x, OPTIONS);
          const t = new Harness(OPTIONS);
          await t.store.restore(head.store.snapshot());
          t.next = head.next;
          for (const c of y) t.apply(c);
          expect(await snapshotBytes(t.store)).toEqual(await snapshotBytes(whole.store));
        },
      ),
      { ...replay, numRuns: 100 },
    );
  });
});

describe('a bad snapshot is rejected and the old state kept', () => {
  test('truncated at any length', async () => {
    const bytes = await snapshotBytes(sample().store);
    const h = new Harness(OPTIONS);
    h.put('mine', 'keep');
    for (let n = 0; n < bytes.length; n++) await expectRejected(h, chunked(bytes.subarray(0, n), [3]));
  });

  test('any single byte changed (the checksum or a field check catches it)', async () => {
    const bytes = await snapshotBytes(sample().store);
    const h = new Harness(OPTIONS);
    h.put('mine', 'keep');
    for (let at = 0; at < bytes.length; at++) {
      for (const flip of [0x01, 0x80]) {
        const bad = bytes.slice();
        bad[at]! ^= flip;
        await expectRejected(h, chunked(bad, [7]));
      }
    }
  });

  test('changed bytes with a recomputed checksum: a state or a typed error, never a crash', async () => {
    const bytes = await snapshotBytes(sample().store);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }),
        async (edits) => {
          const bad = bytes.slice();
          for (const [at, byte] of edits) bad[at % (bad.length - 4)] = byte;
          const t = new KvStore(OPTIONS);
          try {
            await t.restore(chunked(resealed(bad), [11]));
          } catch (e) {
            // A changed header may name other session limits: refused as a setting, not as corruption.
            if (!(e instanceof KvSnapshotError || e instanceof ConfigError)) throw e;
          }
        },
      ),
      { ...replay, numRuns: 1500 },
    );
  });

  test('keys out of order, even with a valid checksum', async () => {
    const h = new Harness();
    h.put('a', '1');
    h.put('b', '2');
    const bytes = await snapshotBytes(h.store);
    const at = bytes.indexOf(0x62); // the key "b" becomes "a": a repeated key
    const bad = bytes.slice();
    bad[at] = 0x61;
    const error = await expectRejected(new Harness(), chunked(resealed(bad)));
    expect(error.message).toMatch(/out of order or repeated/);
    expect(error.offset).toBe(at + 1);
  });

  test('trailing bytes, a wrong magic, an unknown version, a chunk that is not bytes', async () => {
    const bytes = await snapshotBytes(sample().store);
    const h = new Harness(OPTIONS);
    expect((await expectRejected(h, chunked(concat([bytes, new Uint8Array([0])])))).message).toMatch(
      /after the checksum/,
    );
    const magic = bytes.slice();
    magic[0] = 0x58;
    expect((await expectRejected(h, chunked(magic))).message).toMatch(/not a Flotilla KV snapshot/);
    const version = bytes.slice();
    version[4] = 2;
    expect((await expectRejected(h, chunked(version))).message).toMatch(/unknown version 2/);
    async function* notBytes(): AsyncGenerator<Uint8Array> {
      yield bytes.subarray(0, 10);
      yield 'text' as unknown as Uint8Array;
    }
    expect((await expectRejected(h, notBytes())).message).toMatch(/not a Uint8Array/);
  });

  test('a rejected stream is closed (its return() is called)', async () => {
    const bytes = await snapshotBytes(sample().store);
    let closed = false;
    async function* source(): AsyncGenerator<Uint8Array> {
      try {
        yield new Uint8Array([0x58, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        yield bytes;
      } finally {
        closed = true;
      }
    }
    await expectRejected(new Harness(OPTIONS), source());
    expect(closed).toBe(true);
  });

  test('applying while a restore runs is a bug and throws', async () => {
    const bytes = await snapshotBytes(sample().store);
    const h = new Harness(OPTIONS);
    const restoring = h.store.restore(chunked(bytes, [10]));
    expect(() => h.put('a', '1')).toThrow(/no apply while a restore is running/);
    await restoring;
    expect(h.store.revision).toBe(4);
  });
});
