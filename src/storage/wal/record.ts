import {
  type Entry,
  EntryKind,
  type HardState,
  type Index,
  index,
  type Term,
  term,
} from '../../raft/types.js';
import { crc32c } from './crc32c.js';
import type { RecordArena } from './record-arena.js';

/**
 * One WAL record on disk, all numbers little-endian:
 *
 *   offset 0  u32  length: bytes of type + payload (at least 1, at most RECORD_BYTES_MAX)
 *   offset 4  u32  CRC32C over the `length` bytes that follow (type + payload)
 *   offset 8  u8   type
 *   offset 9  …    payload
 *
 * u64 fields are written as two u32 (low word first) and must stay below 2^53 so that they read
 * back as exact JavaScript numbers; a larger value on disk is a bad record.
 */
export const RECORD_HEADER_BYTES = 8;

/** The largest type + payload a record may hold (an entry's data must stay under it). */
export const RECORD_BYTES_MAX = 64 * 1024 * 1024;

/** What a record says. */
export enum RecordType {
  /** payload: term u64, index u64, kind u8, data… (one record per entry) */
  Entry = 1,
  /** payload: term u64, commit u64, vote UTF-8… */
  HardState = 2,
  /** payload: from u64 — entries at `from` and above are discarded */
  Truncate = 3,
  /** payload: index u64, term u64 — a snapshot through `index` is durable; entries ≤ index are dropped */
  Snapshot = 4,
  /**
   * payload: index u64, term u64 — as Snapshot, and every entry held is dropped: the log did not
   * hold the snapshot's last entry, so the snapshot replaces it (§7). One record, so a torn write
   * keeps the old log and snapshot whole or replaces both, never drops the log alone.
   */
  SnapshotReset = 5,
}

/** A decoded record. */
export type WalRecord =
  | { readonly type: RecordType.Entry; readonly entry: Entry }
  | { readonly type: RecordType.HardState; readonly hardState: HardState }
  | { readonly type: RecordType.Truncate; readonly from: Index }
  | { readonly type: RecordType.Snapshot; readonly index: Index; readonly term: Term }
  | { readonly type: RecordType.SnapshotReset; readonly index: Index; readonly term: Term };

/** The outcome of reading one record at an offset. */
export type Decoded =
  | { readonly ok: true; readonly record: WalRecord; readonly end: number }
  | { readonly ok: false; readonly reason: string };

const ENTRY_FIXED = 17;
const HARD_STATE_FIXED = 16;
const TRUNCATE_FIXED = 8;
const SNAPSHOT_FIXED = 16;
const U32 = 0x1_0000_0000;
const U53_HIGH_LIMIT = 0x20_0000;

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Bytes on disk of one entry record. */
export function entryRecordBytes(e: Entry): number {
  return RECORD_HEADER_BYTES + 1 + ENTRY_FIXED + e.data.length;
}

/**
 * Writes records back to back into one buffer sized up front, so a whole save is a single write.
 * Call the `put*` methods in order, then `finish()`.
 */
export class RecordEncoder {
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private at = 0;

  /** The arena whose memory `bytes` is, which checksums every record at `finish()`. */
  private readonly arena: RecordArena | undefined;

  /**
   * Encodes into `arena`'s memory when the records fit (the caller must not use the arena again
   * until the write of `finish()`'s bytes has completed), else into a new buffer.
   */
  constructor(size: number, arena?: RecordArena) {
    this.arena = arena !== undefined && size <= arena.bytesMax ? arena : undefined;
    this.bytes = this.arena === undefined ? new Uint8Array(size) : this.arena.buffer(size);
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, size);
  }

  /** Bytes on disk of a hard-state record. */
  static hardStateBytes(hs: HardState): number {
    return RECORD_HEADER_BYTES + 1 + HARD_STATE_FIXED + utf8.encode(hs.vote).length;
  }

  static readonly truncateBytes = RECORD_HEADER_BYTES + 1 + TRUNCATE_FIXED;
  static readonly snapshotBytes = RECORD_HEADER_BYTES + 1 + SNAPSHOT_FIXED;

  putEntry(e: Entry): void {
    const p = this.begin(RecordType.Entry, ENTRY_FIXED + e.data.length);
    this.u64(p, e.term);
    this.u64(p + 8, e.index);
    this.bytes[p + 16] = e.kind;
    this.bytes.set(e.data, p + 17);
    this.end(p - 1);
  }

  putHardState(hs: HardState): void {
    const vote = utf8.encode(hs.vote);
    const p = this.begin(RecordType.HardState, HARD_STATE_FIXED + vote.length);
    this.u64(p, hs.term);
    this.u64(p + 8, hs.commit);
    this.bytes.set(vote, p + 16);
    this.end(p - 1);
  }

  putTruncate(from: Index): void {
    const p = this.begin(RecordType.Truncate, TRUNCATE_FIXED);
    this.u64(p, from);
    this.end(p - 1);
  }

  putSnapshot(i: Index, t: Term, replacesLog = false): void {
    const p = this.begin(replacesLog ? RecordType.SnapshotReset : RecordType.Snapshot, SNAPSHOT_FIXED);
    this.u64(p, i);
    this.u64(p + 8, t);
    this.end(p - 1);
  }

  /** The encoded records, checksummed; every byte of the buffer must have been written. */
  finish(): Uint8Array {
    if (this.at !== this.bytes.length) {
      throw new RangeError(`record-encoder: wrote ${this.at} of ${this.bytes.length} bytes`);
    }
    this.arena?.seal(this.bytes);
    return this.bytes;
  }

  /** Writes the type and reserves the header; returns the payload's offset. */
  private begin(type: RecordType, payloadBytes: number): number {
    const length = 1 + payloadBytes;
    if (length > RECORD_BYTES_MAX) {
      throw new RangeError(`wal: a record of ${length} bytes exceeds RECORD_BYTES_MAX (${RECORD_BYTES_MAX})`);
    }
    this.view.setUint32(this.at, length, true);
    this.bytes[this.at + RECORD_HEADER_BYTES] = type;
    const payload = this.at + RECORD_HEADER_BYTES + 1;
    this.at = payload + payloadBytes;
    return payload;
  }

  /** Fills in the CRC of the record whose type byte is at `typeAt`. */
  private end(typeAt: number): void {
    // With an arena the CRCs are filled in by `finish()`, all records in one call.
    if (this.arena === undefined) this.view.setUint32(typeAt - 4, crc32c(this.bytes, typeAt, this.at), true);
  }

  private u64(at: number, n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`wal: ${n} is not a u64 this WAL can hold`);
    this.view.setUint32(at, n % U32, true);
    this.view.setUint32(at + 4, Math.floor(n / U32), true);
  }
}

function readU64(view: DataView, at: number): number | undefined {
  const hi = view.getUint32(at + 4, true);
  if (hi >= U53_HIGH_LIMIT) return undefined;
  return hi * U32 + view.getUint32(at, true);
}

/**
 * Reads the record at `at`. A record is valid only if its length fits in `bytes`, its CRC
 * matches, its type is known and its payload parses; anything else is reported with a reason.
 * Entry data is copied out, so the segment's buffer can be freed.
 */
export function decodeRecord(bytes: Uint8Array, view: DataView, at: number): Decoded {
  if (at + RECORD_HEADER_BYTES > bytes.length) {
    return {
      ok: false,
      reason: `a partial record header (${bytes.length - at} of ${RECORD_HEADER_BYTES} bytes)`,
    };
  }
  const length = view.getUint32(at, true);
  if (length < 1 || length > RECORD_BYTES_MAX)
    return { ok: false, reason: `an impossible record length ${length}` };
  const start = at + RECORD_HEADER_BYTES;
  const end = start + length;
  if (end > bytes.length) {
    return { ok: false, reason: `a record of ${length} bytes runs past the end of the file` };
  }
  const stored = view.getUint32(at + 4, true);
  const actual = crc32c(bytes, start, end);
  if (stored !== actual) {
    return { ok: false, reason: `a checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})` };
  }
  const record = parsePayload(bytes, view, start, end);
  if (typeof record === 'string') return { ok: false, reason: record };
  return { ok: true, record, end };
}

/** Parses a record whose CRC matched; returns a reason string when the payload is malformed. */
function parsePayload(bytes: Uint8Array, view: DataView, start: number, end: number): WalRecord | string {
  const type = bytes[start]!;
  const p = start + 1;
  const size = end - p;
  switch (type) {
    case RecordType.Entry: {
      if (size < ENTRY_FIXED) return `an entry record of ${size} payload bytes`;
      const t = readU64(view, p);
      const i = readU64(view, p + 8);
      const kind = bytes[p + 16]!;
      if (t === undefined || i === undefined || i === 0)
        return 'an entry record with an impossible term or index';
      if (kind !== EntryKind.Normal && kind !== EntryKind.Empty && kind !== EntryKind.Config) {
        return `an entry of unknown kind ${kind}`;
      }
      return {
        type: RecordType.Entry,
        entry: { term: term(t), index: index(i), kind, data: bytes.slice(p + ENTRY_FIXED, end) },
      };
    }
    case RecordType.HardState: {
      if (size < HARD_STATE_FIXED) return `a hard-state record of ${size} payload bytes`;
      const t = readU64(view, p);
      const commit = readU64(view, p + 8);
      if (t === undefined || commit === undefined)
        return 'a hard-state record with an impossible term or commit';
      let vote: string;
      try {
        vote = utf8Strict.decode(bytes.subarray(p + HARD_STATE_FIXED, end));
      } catch {
        return 'a hard-state record whose vote is not UTF-8';
      }
      return { type: RecordType.HardState, hardState: { term: term(t), vote, commit: index(commit) } };
    }
    case RecordType.Truncate: {
      if (size !== TRUNCATE_FIXED) return `a truncation record of ${size} payload bytes`;
      const from = readU64(view, p);
      if (from === undefined || from === 0) return 'a truncation record with an impossible index';
      return { type: RecordType.Truncate, from: index(from) };
    }
    case RecordType.Snapshot:
    case RecordType.SnapshotReset: {
      if (size !== SNAPSHOT_FIXED) return `a snapshot-marker record of ${size} payload bytes`;
      const i = readU64(view, p);
      const t = readU64(view, p + 8);
      if (i === undefined || t === undefined)
        return 'a snapshot-marker record with an impossible index or term';
      return { type, index: index(i), term: term(t) };
    }
    default:
      return `an unknown record type ${type}`;
  }
}

/** True when a structurally plausible record could start at `at` (cheap checks before the CRC). */
function plausible(bytes: Uint8Array, view: DataView, at: number): boolean {
  const length = view.getUint32(at, true);
  if (length < 1 || length > RECORD_BYTES_MAX || at + RECORD_HEADER_BYTES + length > bytes.length)
    return false;
  const type = bytes[at + RECORD_HEADER_BYTES]!;
  const size = length - 1;
  switch (type) {
    case RecordType.Entry:
      return size >= ENTRY_FIXED;
    case RecordType.HardState:
      return size >= HARD_STATE_FIXED;
    case RecordType.Truncate:
      return size === TRUNCATE_FIXED;
    case RecordType.Snapshot:
    case RecordType.SnapshotReset:
      return size === SNAPSHOT_FIXED;
    default:
      return false;
  }
}

/**
 * The offset of the first valid record at or after `from`, trying every byte offset, or -1.
 * This is how recovery tells a torn tail (nothing valid after the bad bytes) from corruption.
 */
export function findValidRecord(bytes: Uint8Array, view: DataView, from: number): number {
  for (let at = from; at + RECORD_HEADER_BYTES < bytes.length; at++) {
    if (plausible(bytes, view, at) && decodeRecord(bytes, view, at).ok) return at;
  }
  return -1;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
