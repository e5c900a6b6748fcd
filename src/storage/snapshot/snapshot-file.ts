import {
  decodeMembership,
  encodeMembership,
  type Membership,
  membershipOf,
  snapshotMetaOf,
} from '../../raft/membership.js';
import type { Index, NodeId, SnapshotMeta as RaftSnapshotMeta, Term } from '../../raft/types.js';
import { index, term } from '../../raft/types.js';
import { crc32c } from '../wal/crc32c.js';

/**
 * A snapshot file is a header followed by the state machine's bytes. Header, little-endian:
 *
 *   offset 0   8 bytes  magic "FLOTSNAP"
 *   offset 8   u32      format version (2)
 *   offset 12  u32      header length H, in bytes, this CRC included
 *   offset 16  u64      index (the last entry the snapshot covers)
 *   offset 24  u64      term of that entry
 *   offset 32  u64      data length
 *   offset 40  u32      CRC32C of the data
 *   offset 44  u32      membership length M (= H − 52)
 *   offset 48  M bytes  the configuration at the index: encodeMembership (JSON of voters, outgoing,
 *                       learners and, when known, addresses)
 *   offset H−4 u32      CRC32C of header bytes [0, H−4)
 *   offset H   …        data
 *
 * Version 1 (still read, no longer written) held only the voters: at offset 44 a u32 voter count,
 * then each voter as a u16 byte length + UTF-8 id.
 *
 * Files are named `snap-IIIIIIIIIIIIIIII-TTTTTTTTTTTTTTTT.snap` (index and term, 16 decimal
 * digits) so that names sort oldest first; a file being written has `.<nonce>.tmp` appended.
 */
export interface SnapshotMeta extends RaftSnapshotMeta {
  /** Bytes of data (the header excluded). */
  readonly bytes: number;
  /** CRC32C of the data. */
  readonly checksum: number;
  /** The file name in the store's folder. */
  readonly file: string;
}

export const SNAPSHOT_MAGIC = 'FLOTSNAP';
/** The version this code writes. */
export const SNAPSHOT_VERSION = 2;
/** The voters-only header of data folders written before version 2; read, never written. */
export const SNAPSHOT_VERSION_VOTERS_ONLY = 1;
/** Enough to read the fixed part and learn H. */
export const HEADER_PREFIX_BYTES = 16;
/** A header larger than this is corrupt (it bounds what a reader allocates). */
export const HEADER_BYTES_MAX = 1024 * 1024;

const FIXED = 48;
const U32 = 0x1_0000_0000;
const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const NAME = /^snap-(\d{16})-(\d{16})\.snap$/;

export function snapshotFileName(i: Index, t: Term): string {
  return `snap-${String(i).padStart(16, '0')}-${String(t).padStart(16, '0')}.snap`;
}

/** The index and term a snapshot file name carries, or undefined for any other name. */
export function parseSnapshotFileName(name: string): { index: Index; term: Term } | undefined {
  const m = NAME.exec(name);
  if (m === null) return undefined;
  return { index: index(Number(m[1])), term: term(Number(m[2])) };
}

/** True for a file a writer left behind (`….snap.<nonce>.tmp`). */
export function isSnapshotTempName(name: string): boolean {
  return /^snap-\d{16}-\d{16}\.snap\.[^/]+\.tmp$/.test(name);
}

/**
 * The snapshot meta as this format stores it: the configuration normalised the way
 * `snapshotMetaOf` builds it (learners and outgoing omitted when empty), no other fields.
 */
export function normalizeMeta(meta: RaftSnapshotMeta): RaftSnapshotMeta {
  return snapshotMetaOf(meta.index, meta.term, membershipOf(meta));
}

function membershipBytes(meta: RaftSnapshotMeta): Uint8Array {
  const m = encodeMembership(membershipOf(meta));
  if (FIXED + m.length + 4 > HEADER_BYTES_MAX) {
    throw new RangeError(
      `snapshot: a configuration of ${m.length} bytes does not fit in a header of at most ${HEADER_BYTES_MAX} bytes`,
    );
  }
  return m;
}

/** The size of the header `encodeHeader` writes for this snapshot (where its data starts). */
export function headerBytes(meta: RaftSnapshotMeta): number {
  return FIXED + membershipBytes(meta).length + 4;
}

/** Encodes the header (current version) of a snapshot whose data is `bytes` long with CRC `checksum`. */
export function encodeHeader(meta: Omit<SnapshotMeta, 'file'>): Uint8Array {
  const membership = membershipBytes(meta);
  const size = FIXED + membership.length + 4;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(utf8.encode(SNAPSHOT_MAGIC), 0);
  view.setUint32(8, SNAPSHOT_VERSION, true);
  view.setUint32(12, size, true);
  putU64(view, 16, meta.index);
  putU64(view, 24, meta.term);
  putU64(view, 32, meta.bytes);
  view.setUint32(40, meta.checksum, true);
  view.setUint32(44, membership.length, true);
  out.set(membership, FIXED);
  view.setUint32(size - 4, crc32c(out, 0, size - 4), true);
  return out;
}

/** The header length H a header prefix announces, or a reason it cannot be a header. */
export function headerLength(prefix: Uint8Array): number | string {
  if (prefix.length < HEADER_PREFIX_BYTES) return `a file of ${prefix.length} bytes has no header`;
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  if (new TextDecoder().decode(prefix.subarray(0, 8)) !== SNAPSHOT_MAGIC)
    return 'not a snapshot file (bad magic)';
  const version = view.getUint32(8, true);
  if (version !== SNAPSHOT_VERSION && version !== SNAPSHOT_VERSION_VOTERS_ONLY)
    return `unknown snapshot format version ${version}`;
  const size = view.getUint32(12, true);
  if (size < FIXED + 4 || size > HEADER_BYTES_MAX) return `an impossible header length ${size}`;
  return size;
}

/**
 * Parses a whole header (H bytes, either version); returns a reason string when it is damaged.
 * The meta it returns has the configuration normalised as `normalizeMeta` does, so a header reads
 * back equal to the meta it was written from.
 */
export function decodeHeader(header: Uint8Array, file: string): SnapshotMeta | string {
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const size = header.length;
  if (size < FIXED + 4) return `an impossible header length ${size}`;
  if (view.getUint32(size - 4, true) !== crc32c(header, 0, size - 4)) return 'header checksum mismatch';
  const i = getU64(view, 16);
  const t = getU64(view, 24);
  const bytes = getU64(view, 32);
  if (i === undefined || t === undefined || bytes === undefined) return 'header holds an impossible number';
  const checksum = view.getUint32(40, true);
  const version = view.getUint32(8, true);
  const config =
    version === SNAPSHOT_VERSION
      ? decodeConfiguration(header, view)
      : version === SNAPSHOT_VERSION_VOTERS_ONLY
        ? decodeVoters(header, view)
        : `unknown snapshot format version ${version}`;
  if (typeof config === 'string') return config;
  return { ...snapshotMetaOf(index(i), term(t), config), bytes, checksum, file };
}

/** Version 2: the membership blob fills the header between the fixed part and the CRC. */
function decodeConfiguration(header: Uint8Array, view: DataView): Membership | string {
  const n = view.getUint32(44, true);
  if (FIXED + n + 4 !== header.length) return 'header length does not match its membership length';
  try {
    return decodeMembership(header.subarray(FIXED, FIXED + n));
  } catch (err) {
    return `the configuration in the header does not parse (${err instanceof Error ? err.message : String(err)})`;
  }
}

/** Version 1: a voter count, then each voter id. */
function decodeVoters(header: Uint8Array, view: DataView): Membership | string {
  const size = header.length;
  const count = view.getUint32(44, true);
  const voters: NodeId[] = [];
  let at = FIXED;
  for (let k = 0; k < count; k++) {
    if (at + 2 > size - 4) return 'voter list runs past the header';
    const n = view.getUint16(at, true);
    if (at + 2 + n > size - 4) return 'voter list runs past the header';
    try {
      voters.push(utf8Strict.decode(header.subarray(at + 2, at + 2 + n)));
    } catch {
      return 'a voter id is not UTF-8';
    }
    at += 2 + n;
  }
  if (at !== size - 4) return 'header length does not match its voter list';
  return { voters, outgoing: [], learners: [] };
}

function putU64(view: DataView, at: number, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`snapshot: ${n} is not a u64 this format can hold`);
  view.setUint32(at, n % U32, true);
  view.setUint32(at + 4, Math.floor(n / U32), true);
}

function getU64(view: DataView, at: number): number | undefined {
  const hi = view.getUint32(at + 4, true);
  if (hi >= 0x20_0000) return undefined;
  return hi * U32 + view.getUint32(at, true);
}
