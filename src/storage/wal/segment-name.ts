import { type Index, index } from '../../raft/types.js';

/**
 * Segment files are named `SSSSSSSSSSSSSSSS-IIIIIIIIIIIIIIII.wal`: the segment's sequence number
 * and the index the first entry appended to it would have (last index + 1 when it was created),
 * both decimal, zero-padded to 16 digits so that names sort in sequence order. The sequence
 * number is what recovery orders by; the index is for people and `wal inspect` (a later
 * truncation can still write lower indexes into the segment).
 */
export interface SegmentName {
  readonly seq: number;
  readonly firstIndex: Index;
  readonly name: string;
}

const PATTERN = /^(\d{16})-(\d{16})\.wal$/;
const DIGITS = 16;

export function segmentName(seq: number, firstIndex: Index): string {
  return `${pad(seq)}-${pad(firstIndex)}.wal`;
}

/** The parts of a segment file name, or undefined for any other file. */
export function parseSegmentName(name: string): SegmentName | undefined {
  const m = PATTERN.exec(name);
  if (m === null) return undefined;
  const seq = Number(m[1]);
  const first = Number(m[2]);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(first)) return undefined;
  return { seq, firstIndex: index(first), name };
}

function pad(n: number): string {
  return String(n).padStart(DIGITS, '0');
}
