import { type Entry, EntryKind, type HardState, index, term } from '../../src/raft/types.js';
import type { Prng } from '../../src/sim/prng.js';

export const DIR = '/data/wal';

/** An entry whose data names it, so a misplaced entry shows in a diff. */
export function entry(i: number, t: number, data?: Uint8Array): Entry {
  return {
    index: index(i),
    term: term(t),
    kind: data === undefined || data.length > 0 ? EntryKind.Normal : EntryKind.Empty,
    data: data ?? new TextEncoder().encode(`e${i}t${t}`),
  };
}

export function entries(from: number, to: number, t: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, t));
  return out;
}

export function hardState(t: number, vote: string, commit: number): HardState {
  return { term: term(t), vote, commit: index(commit) };
}

export function randomBytes(rng: Prng, max: number): Uint8Array {
  const out = new Uint8Array(rng.nextInt(max + 1));
  for (let k = 0; k < out.length; k++) out[k] = rng.nextInt(256);
  return out;
}
