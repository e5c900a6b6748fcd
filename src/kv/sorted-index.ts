import { assert } from '../raft/assert.js';
import type { KeyValue } from './types.js';

/**
 * The store's keys in byte order with their records: a sorted list cut into chunks of about
 * CHUNK_LOAD keys (a two-level "sorted list of sorted arrays"). A lookup is two binary searches
 * (chunk maxima, then the chunk); an insert or delete splices one chunk of at most 2·CHUNK_LOAD
 * keys. Keys are latin1 strings (one char per byte, see `latin1`), so string order is byte order.
 *
 * `freeze()` hands out the current chunks in O(chunks) for a snapshot and makes every chunk
 * copy-on-write: the first later write to a chunk copies it (O(CHUNK_LOAD)) and leaves the
 * frozen one unchanged. No bookkeeping stays behind, so a frozen view that is dropped unread
 * costs nothing.
 */
export const CHUNK_LOAD = 512;

/** One sorted run of keys and their records; `epoch` says which freeze generation owns it. */
export interface Chunk {
  readonly keys: string[];
  readonly kvs: KeyValue[];
  epoch: number;
}

/** An unchanging view of the index as of one `freeze()`; never mutate its chunks. */
export interface FrozenIndex {
  readonly chunks: readonly Chunk[];
  readonly size: number;
}

/** The result of a range scan. */
export interface Scan {
  readonly items: KeyValue[];
  readonly more: boolean;
}

/** The first position in sorted `keys` whose key is ≥ `key` (keys.length when none). */
function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class SortedIndex {
  private epoch = 0;

  /** An empty index; SortedIndexBuilder passes chunks it built in order. */
  constructor(
    private readonly chunks: Chunk[] = [],
    /** maxes[c] is the last key of chunks[c]. */
    private readonly maxes: string[] = [],
    private count = 0,
  ) {}

  get size(): number {
    return this.count;
  }

  get(key: string): KeyValue | undefined {
    const c = lowerBound(this.maxes, key);
    const chunk = this.chunks[c];
    if (chunk === undefined) return undefined;
    const i = lowerBound(chunk.keys, key);
    return chunk.keys[i] === key ? chunk.kvs[i] : undefined;
  }

  /** Inserts or replaces the record of `key`. */
  set(key: string, kv: KeyValue): void {
    if (this.chunks.length === 0) {
      this.chunks.push({ keys: [key], kvs: [kv], epoch: this.epoch });
      this.maxes.push(key);
      this.count = 1;
      return;
    }
    // A key above every maximum goes at the end of the last chunk.
    const c = Math.min(lowerBound(this.maxes, key), this.chunks.length - 1);
    const chunk = this.writable(c);
    const i = lowerBound(chunk.keys, key);
    if (chunk.keys[i] === key) {
      chunk.kvs[i] = kv;
      return;
    }
    chunk.keys.splice(i, 0, key);
    chunk.kvs.splice(i, 0, kv);
    this.count++;
    if (i === chunk.keys.length - 1) this.maxes[c] = key;
    if (chunk.keys.length > 2 * CHUNK_LOAD) this.split(c);
  }

  /** Removes `key`; returns whether it was there. */
  delete(key: string): boolean {
    const c = lowerBound(this.maxes, key);
    const found = this.chunks[c];
    if (found === undefined) return false;
    const i = lowerBound(found.keys, key);
    if (found.keys[i] !== key) return false;
    const chunk = this.writable(c);
    chunk.keys.splice(i, 1);
    chunk.kvs.splice(i, 1);
    this.count--;
    if (chunk.keys.length === 0) {
      this.chunks.splice(c, 1);
      this.maxes.splice(c, 1);
    } else {
      this.maxes[c] = chunk.keys[chunk.keys.length - 1]!;
      if (chunk.keys.length < CHUNK_LOAD / 4 && this.chunks.length > 1) this.merge(c);
    }
    return true;
  }

  /**
   * Up to `limit` records whose keys start with `prefix`, from the first key ≥ `from` (or > `from`
   * when `exclusive`), and whether more follow.
   */
  scan(prefix: string, from: string, exclusive: boolean, limit: number): Scan {
    const items: KeyValue[] = [];
    let c = lowerBound(this.maxes, from);
    let chunk = this.chunks[c];
    if (chunk === undefined) return { items, more: false };
    let i = lowerBound(chunk.keys, from);
    if (exclusive && chunk.keys[i] === from) i++;
    for (;;) {
      if (i === chunk.keys.length) {
        chunk = this.chunks[++c];
        if (chunk === undefined) return { items, more: false };
        i = 0;
      }
      if (!chunk.keys[i]!.startsWith(prefix)) return { items, more: false };
      if (items.length === limit) return { items, more: true };
      items.push(chunk.kvs[i]!);
      i++;
    }
  }

  /** The index as it is now, unchanged by later writes. O(chunks). */
  freeze(): FrozenIndex {
    const view = { chunks: this.chunks.slice(), size: this.count };
    this.epoch++;
    return view;
  }

  /** Throws an InvariantError unless the chunks are sorted, bounded and agree with maxes and size. */
  check(): void {
    assert(this.maxes.length === this.chunks.length, 'sorted index: one max per chunk');
    let total = 0;
    let prev: string | undefined;
    for (let c = 0; c < this.chunks.length; c++) {
      const chunk = this.chunks[c]!;
      assert(chunk.keys.length > 0, 'sorted index: no empty chunk');
      assert(chunk.keys.length <= 2 * CHUNK_LOAD, 'sorted index: chunk length <= 2 * CHUNK_LOAD');
      assert(chunk.keys.length === chunk.kvs.length, 'sorted index: one record per key');
      assert(this.maxes[c] === chunk.keys[chunk.keys.length - 1], 'sorted index: max is the last key');
      for (const key of chunk.keys) {
        assert(prev === undefined || prev < key, 'sorted index: keys strictly increasing');
        prev = key;
      }
      total += chunk.keys.length;
    }
    assert(total === this.count, 'sorted index: size counts every key');
  }

  /** The chunk at `c`, copied first if a frozen view may share it. */
  private writable(c: number): Chunk {
    const chunk = this.chunks[c]!;
    if (chunk.epoch === this.epoch) return chunk;
    const copy = { keys: chunk.keys.slice(), kvs: chunk.kvs.slice(), epoch: this.epoch };
    this.chunks[c] = copy;
    return copy;
  }

  private split(c: number): void {
    const chunk = this.chunks[c]!;
    const half = chunk.keys.length >>> 1;
    const right: Chunk = { keys: chunk.keys.splice(half), kvs: chunk.kvs.splice(half), epoch: this.epoch };
    this.chunks.splice(c + 1, 0, right);
    this.maxes.splice(c + 1, 0, right.keys[right.keys.length - 1]!);
    this.maxes[c] = chunk.keys[chunk.keys.length - 1]!;
  }

  /** Joins the small chunk at `c` with a neighbour (then splits the result if it is too long). */
  private merge(c: number): void {
    const left = c + 1 < this.chunks.length ? c : c - 1;
    const into = this.writable(left);
    const from = this.chunks[left + 1]!;
    for (let i = 0; i < from.keys.length; i++) {
      into.keys.push(from.keys[i]!);
      into.kvs.push(from.kvs[i]!);
    }
    this.chunks.splice(left + 1, 1);
    this.maxes.splice(left + 1, 1);
    this.maxes[left] = into.keys[into.keys.length - 1]!;
    if (into.keys.length > 2 * CHUNK_LOAD) this.split(left);
  }
}

/**
 * Builds a SortedIndex from records given in strictly increasing key order (a snapshot being
 * restored), in O(n) without splicing.
 */
export class SortedIndexBuilder {
  private readonly chunks: Chunk[] = [];
  private readonly maxes: string[] = [];
  private last: string | undefined;
  private count = 0;

  /** The last key pushed, to check the order of the next one. */
  get lastKey(): string | undefined {
    return this.last;
  }

  push(key: string, kv: KeyValue): void {
    assert(this.last === undefined || this.last < key, 'sorted index builder: keys strictly increasing');
    let chunk = this.chunks[this.chunks.length - 1];
    if (chunk === undefined || chunk.keys.length === CHUNK_LOAD) {
      chunk = { keys: [], kvs: [], epoch: 0 };
      this.chunks.push(chunk);
      this.maxes.push(key);
    }
    chunk.keys.push(key);
    chunk.kvs.push(kv);
    this.maxes[this.maxes.length - 1] = key;
    this.last = key;
    this.count++;
  }

  /** The index; checks it whole (a second check of what the pushes asserted). */
  build(): SortedIndex {
    const index = new SortedIndex(this.chunks, this.maxes, this.count);
    index.check();
    return index;
  }
}
