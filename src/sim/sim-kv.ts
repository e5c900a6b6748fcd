import { assert } from '../raft/assert.js';
import { type Entry, EntryKind } from '../raft/types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const SPACE = 0x20;
/** A cas's `expected` when it asks for an absent key (create only); never a value. */
const ABSENT = '~';

/**
 * A client command of the simulated store. `cas` writes `value` only if the key holds `expected`
 * (`null`: absent), as the nemesis recorder's cas does on the value it read: values are unique,
 * so a cas on a value is a cas on a modRevision.
 */
export type SimCommand =
  | { readonly f: 'put'; readonly key: string; readonly value: string }
  | { readonly f: 'delete'; readonly key: string }
  | { readonly f: 'cas'; readonly key: string; readonly expected: string | null; readonly value: string };

/** A key or value of the simulated store: no spaces (they separate the command's fields). */
function assertWord(what: string, s: string): void {
  assert(s.length > 0, `sim-kv: ${what} must be non-empty`);
  assert(!s.includes(' '), `sim-kv: ${what} "${s}" must have no spaces`);
  assert(s !== ABSENT, `sim-kv: ${what} must not be "${ABSENT}" (it stands for absent)`);
}

/** `put <key> <value>`, `delete <key>` or `cas <key> <expected|~> <value>`, as a log entry carries it. */
export function encodeCommand(cmd: SimCommand): Uint8Array {
  assertWord('key', cmd.key);
  switch (cmd.f) {
    case 'put':
      assertWord('value', cmd.value);
      return encoder.encode(`put ${cmd.key} ${cmd.value}`);
    case 'delete':
      return encoder.encode(`delete ${cmd.key}`);
    case 'cas':
      assertWord('value', cmd.value);
      if (cmd.expected !== null) assertWord('expected value', cmd.expected);
      return encoder.encode(`cas ${cmd.key} ${cmd.expected ?? ABSENT} ${cmd.value}`);
  }
}

/**
 * The command an entry's data holds, or undefined for any other payload (scenario writes such as
 * `x=1`, no-ops): those leave the store as it is.
 */
export function decodeCommand(data: Uint8Array): SimCommand | undefined {
  // Client commands are short; a payload with no space is never one (the fast path of `x=1`).
  if (data.indexOf(SPACE) < 0) return undefined;
  const [f, key, a, b, ...rest] = decoder.decode(data).split(' ');
  if (key === undefined || key === '' || rest.length > 0) return undefined;
  if (f === 'put' && a !== undefined && a !== '' && b === undefined) return { f, key, value: a };
  if (f === 'delete' && a === undefined) return { f, key };
  if (f === 'cas' && a !== undefined && a !== '' && b !== undefined && b !== '')
    return { f, key, expected: a === ABSENT ? null : a, value: b };
  return undefined;
}

/**
 * The simulated key-value state machine: key → value, built by applying committed entries in
 * order. Volatile like the rest of a node's state machine: a restart rebuilds it from the
 * snapshot's entries and then the log.
 */
export class SimKv {
  private readonly values = new Map<string, string>();
  /**
   * Whether each cas applied here found its condition true, by log index: what the proposer
   * answers its client. One per cas entry, like the node's `applied` list, which holds every entry.
   */
  private readonly casHeld = new Map<number, boolean>();

  apply(e: Entry): void {
    if (e.kind !== EntryKind.Normal) return;
    const cmd = decodeCommand(e.data);
    if (cmd === undefined) return;
    switch (cmd.f) {
      case 'put':
        this.values.set(cmd.key, cmd.value);
        return;
      case 'delete':
        this.values.delete(cmd.key);
        return;
      case 'cas': {
        const held = (this.values.get(cmd.key) ?? null) === cmd.expected;
        this.casHeld.set(e.index, held);
        if (held) this.values.set(cmd.key, cmd.value);
        return;
      }
    }
  }

  /** Forgets everything, then applies `entries` (a snapshot's contents) in order. */
  reset(entries: readonly Entry[]): void {
    this.values.clear();
    this.casHeld.clear();
    for (const e of entries) this.apply(e);
  }

  get(key: string): string | undefined {
    return this.values.get(key);
  }

  /** Whether the cas at `index` found its condition true; undefined if no cas was applied there. */
  conditionHeld(index: number): boolean | undefined {
    return this.casHeld.get(index);
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
