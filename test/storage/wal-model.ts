import type { Entry, HardState, Index, Term } from '../../src/raft/types.js';
import { hardState } from './helpers.js';

/**
 * What a WAL holds, as the crash-point tests model it: the state after each acknowledged call,
 * and, record by record, what a call in flight may have left (a crash keeps a prefix of its
 * records). `S` is the snapshot as the test knows it: (index, term), or a whole SnapshotMeta.
 */
export interface WalModel<S extends { readonly index: Index; readonly term: Term }> {
  readonly hardState: HardState;
  readonly snapshot: S | undefined;
  /** Entries after the snapshot. */
  readonly entries: readonly Entry[];
}

/** One record's effect, in the order the WAL writes a call's records. */
export type WalStep<S> =
  | { readonly kind: 'hard'; readonly hardState: HardState }
  | { readonly kind: 'truncate'; readonly from: number }
  | { readonly kind: 'entry'; readonly entry: Entry }
  /** A snapshot marker; `replacesLog`: record type 5, which also drops every entry (§7). */
  | { readonly kind: 'marker'; readonly snapshot: S; readonly replacesLog: boolean };

export function emptyWalModel<S extends { readonly index: Index; readonly term: Term }>(): WalModel<S> {
  return { hardState: hardState(0, '', 0), snapshot: undefined, entries: [] };
}

export function lastIndex(m: WalModel<{ index: Index; term: Term }>): number {
  return m.entries.at(-1)?.index ?? m.snapshot?.index ?? 0;
}

/** The records of `save({ entries, hardState })`: the hard state, a truncation when the batch overlaps, the entries. */
export function saveSteps<S>(
  m: WalModel<{ index: Index; term: Term }>,
  entries: readonly Entry[],
  hs: HardState | undefined,
): WalStep<S>[] {
  const out: WalStep<S>[] = [];
  if (hs !== undefined) out.push({ kind: 'hard', hardState: hs });
  const first = entries[0];
  if (first !== undefined && first.index <= lastIndex(m)) out.push({ kind: 'truncate', from: first.index });
  for (const e of entries) out.push({ kind: 'entry', entry: e });
  return out;
}

/**
 * The one record of `saveSnapshotMarker` for `snapshot`: the log is kept after it when it holds
 * the snapshot's last entry, and replaced by it otherwise (§7) — in the same record, so no crash
 * can drop the log and keep the old snapshot.
 */
export function markerStep<S extends { readonly index: Index; readonly term: Term }>(
  m: WalModel<S>,
  snapshot: S,
): WalStep<S> {
  const held = m.entries.find((e) => e.index === snapshot.index);
  return { kind: 'marker', snapshot, replacesLog: held?.term !== snapshot.term && m.entries.length > 0 };
}

export function applyStep<S extends { readonly index: Index; readonly term: Term }>(
  m: WalModel<S>,
  s: WalStep<S>,
): WalModel<S> {
  switch (s.kind) {
    case 'hard':
      return { ...m, hardState: s.hardState };
    case 'truncate':
      return { ...m, entries: m.entries.filter((e) => e.index < s.from) };
    case 'entry':
      return { ...m, entries: [...m.entries, s.entry] };
    case 'marker':
      return {
        ...m,
        snapshot: s.snapshot,
        entries: s.replacesLog ? [] : m.entries.filter((e) => e.index > s.snapshot.index),
      };
  }
}
