import { assert } from '../raft/assert.js';
import { type Entry, EntryKind } from '../raft/types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** "put " in UTF-8: commands start with it; any other payload is a no-op for the store. */
const PUT = encoder.encode('put ');
const SPACE = 0x20;

/** A key or value of the simulated store: no spaces (they separate the command's fields). */
function assertWord(what: string, s: string): void {
  assert(s.length > 0 && !s.includes(' '), `sim-kv: ${what} "${s}" must be non-empty without spaces`);
}

/** The client command `put <key> <value>` as the bytes a log entry carries. */
export function encodePut(key: string, value: string): Uint8Array {
  assertWord('key', key);
  assertWord('value', value);
  return encoder.encode(`put ${key} ${value}`);
}

/** The key and value of a put command, or undefined for any other payload (scenario writes, no-ops). */
export function decodePut(data: Uint8Array): { key: string; value: string } | undefined {
  if (data.length <= PUT.length) return undefined;
  for (let k = 0; k < PUT.length; k++) if (data[k] !== PUT[k]) return undefined;
  const split = data.indexOf(SPACE, PUT.length);
  if (split < 0) return undefined;
  return {
    key: decoder.decode(data.subarray(PUT.length, split)),
    value: decoder.decode(data.subarray(split + 1)),
  };
}

/**
 * The simulated key-value state machine: key → value, built by applying committed entries in
 * order. Volatile like the rest of a node's state machine: a restart rebuilds it from the
 * snapshot's entries and then the log.
 */
export class SimKv {
  private readonly values = new Map<string, string>();

  apply(e: Entry): void {
    if (e.kind !== EntryKind.Normal) return;
    const put = decodePut(e.data);
    if (put !== undefined) this.values.set(put.key, put.value);
  }

  /** Forgets everything, then applies `entries` (a snapshot's contents) in order. */
  reset(entries: readonly Entry[]): void {
    this.values.clear();
    for (const e of entries) this.apply(e);
  }

  get(key: string): string | undefined {
    return this.values.get(key);
  }

  get size(): number {
    return this.values.size;
  }

  /** The first key whose value differs from `other`'s, or undefined when both hold the same. */
  differsFrom(other: SimKv): string | undefined {
    for (const [k, v] of this.values) if (other.values.get(k) !== v) return k;
    for (const k of other.values.keys()) if (!this.values.has(k)) return k;
    return undefined;
  }
}
