import fc from 'fast-check';
import { encodeCommand } from '../../src/kv/command-codec.js';
import { KvStore, type KvStoreOptions } from '../../src/kv/kv-store.js';
import type { DeleteCommand, KvCommand, KvResult, KvSession, PutCommand } from '../../src/kv/types.js';
import { index } from '../../src/raft/types.js';

// fast-check prints the seed and path of a failing run; replay it with
// FC_SEED=<seed> FC_PATH=<path> npx vitest run test/kv/<file>
export const replay: fc.Parameters<unknown> = {
  seed: process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED),
  path: process.env.FC_PATH,
};

const text = new TextEncoder();

/** The UTF-8 bytes of `s`. */
export function b(s: string): Uint8Array {
  return text.encode(s);
}

export function put(key: string, value: string, extra: Partial<PutCommand> = {}): Uint8Array {
  return encodeCommand({ op: 'put', key: b(key), value: b(value), ...extra });
}

export function del(key: string, extra: Partial<DeleteCommand> = {}): Uint8Array {
  return encodeCommand({ op: 'delete', key: b(key), ...extra });
}

/** A store and the next log index to apply at. */
export class Harness {
  readonly store: KvStore;
  next = 1;

  constructor(options?: KvStoreOptions) {
    this.store = new KvStore(options);
  }

  /** Applies encoded bytes at the next index. */
  raw(bytes: Uint8Array): KvResult {
    return this.store.apply(bytes, index(this.next++));
  }

  apply(command: KvCommand): KvResult {
    return this.raw(encodeCommand(command));
  }

  put(key: string, value: string, extra: Partial<PutCommand> = {}): KvResult {
    return this.raw(put(key, value, extra));
  }

  del(key: string, extra: Partial<DeleteCommand> = {}): KvResult {
    return this.raw(del(key, extra));
  }

  /** The value of `key` as a string, or undefined. */
  value(key: string): string | undefined {
    const kv = this.store.get(b(key));
    return kv === undefined ? undefined : new TextDecoder().decode(kv.value);
  }
}

/** Every chunk a snapshot yields. */
export async function snapshotChunks(store: KvStore): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const chunk of store.snapshot()) out.push(chunk);
  return out;
}

/** A snapshot as one byte array. */
export async function snapshotBytes(store: KvStore): Promise<Uint8Array> {
  return concat(await snapshotChunks(store));
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `bytes` as a stream cut into pieces of the given sizes (cycling), to test any chunking. */
export async function* chunked(
  bytes: Uint8Array,
  sizes: readonly number[] = [bytes.length],
): AsyncGenerator<Uint8Array> {
  let at = 0;
  let k = 0;
  while (at < bytes.length) {
    const n = Math.max(1, sizes[k++ % sizes.length]!);
    yield bytes.slice(at, at + n);
    at += n;
  }
}

// --- fast-check arbitraries over a small key space, so that commands collide on keys. ---

const KEYS = ['a', 'ab', 'abc', 'b', 'ba', 'c', '\u00ff', 'a\u0000'].map(b);

export const keyArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...KEYS) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 6 }) },
);

export const valueArb: fc.Arbitrary<Uint8Array> = fc.uint8Array({ maxLength: 12 });

export const sessionArb: fc.Arbitrary<KvSession | undefined> = fc.option(
  fc.record({
    clientId: fc.constantFrom('c1', 'c2', 'c3', 'c4', 'idem:x', 'idem:y'),
    seq: fc.nat({ max: 6 }),
  }),
  { nil: undefined, freq: 2 },
);

/** Revisions small enough to sometimes match a key's modRevision. */
const revisionArb = fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined, freq: 2 });

export const commandArb: fc.Arbitrary<KvCommand> = fc.oneof(
  fc
    .record({
      key: keyArb,
      value: valueArb,
      ifModRevision: revisionArb,
      ifAbsent: fc.option(fc.constant(true as const), { nil: undefined, freq: 4 }),
      session: sessionArb,
    })
    .map(
      (r): PutCommand => ({
        op: 'put',
        ...r,
        ifAbsent: r.ifModRevision === undefined ? r.ifAbsent : undefined,
      }),
    ),
  fc
    .record({ key: keyArb, ifModRevision: revisionArb, session: sessionArb })
    .map((r): DeleteCommand => ({ op: 'delete', ...r })),
);

/** Feeds `commands` to a fresh store (and returns it), one log index each, with gaps when `gaps`. */
export function run(commands: readonly KvCommand[], options?: KvStoreOptions, gaps = false): Harness {
  const h = new Harness(options);
  for (const [k, c] of commands.entries()) {
    if (gaps && k % 3 === 0) h.next += k % 5;
    h.apply(c);
  }
  return h;
}
