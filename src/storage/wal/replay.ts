import { join } from 'node:path';
import { type Entry, type HardState, type Index, index, NONE, type Term, term } from '../../raft/types.js';
import type { FileLayer } from '../fs/file-layer.js';
import { WalCorruptionError } from './errors.js';
import { decodeRecord, findValidRecord, RecordType, type WalRecord } from './record.js';
import { parseSegmentName, type SegmentName } from './segment-name.js';

/** A snapshot's position in the log: its last included index and that entry's term. */
export interface SnapshotPosition {
  readonly index: Index;
  readonly term: Term;
}

/** What one segment held, as far as its records were valid. */
export interface SegmentReport {
  readonly name: string;
  readonly seq: number;
  /** The file's size before any truncation. */
  readonly bytes: number;
  /** Where the last valid record ends. */
  readonly validBytes: number;
  readonly records: number;
  readonly entries: number;
  readonly firstEntry: SnapshotPosition | undefined;
  readonly lastEntry: SnapshotPosition | undefined;
  /** The highest entry index written in this segment (0 when none): what `releaseTo` compares. */
  readonly maxIndex: number;
}

/** Bytes that recovery cuts off: a torn write, or a later segment that holds no valid record. */
export interface TornTail {
  readonly file: string;
  readonly offset: number;
  readonly bytes: number;
  readonly reason: string;
}

/** Everything a read of the WAL folder found. */
export interface WalScan {
  readonly segments: readonly SegmentReport[];
  readonly torn: readonly TornTail[];
  readonly hardState: HardState;
  readonly snapshot: SnapshotPosition | undefined;
  /** Contiguous, every truncation applied, starting right after the snapshot (or at 1). */
  readonly entries: Entry[];
}

/**
 * Reads every segment in `dir` in sequence order, one file in memory at a time, verifying every
 * record. A bad record with nothing valid after it (in its segment or any later one) is a torn
 * tail, reported in `torn` for the caller to cut off; a bad record that a valid record follows,
 * a missing segment, or records that contradict each other reject with `WalCorruptionError`.
 * It changes nothing on disk (`wal inspect` uses it too).
 */
export async function scanWal(fs: FileLayer, dir: string): Promise<WalScan> {
  const names = await segmentNames(fs, dir);
  const log = new ReplayLog();
  const segments: SegmentReport[] = [];
  const torn: TornTail[] = [];
  for (let k = 0; k < names.length; k++) {
    const seg = names[k]!;
    const bytes = await fs.readFile(join(dir, seg.name));
    const { report, bad } = replaySegment(bytes, seg, log);
    segments.push(report);
    if (bad === undefined) continue;
    const next = findValidRecord(bytes, view(bytes), bad.offset + 1);
    if (next >= 0) {
      throw new WalCorruptionError(
        seg.name,
        bad.offset,
        `${bad.reason}, and a valid record follows at byte offset ${next}`,
      );
    }
    torn.push({ file: seg.name, offset: bad.offset, bytes: bytes.length - bad.offset, reason: bad.reason });
    for (const later of names.slice(k + 1)) {
      const rest = await fs.readFile(join(dir, later.name));
      const valid = findValidRecord(rest, view(rest), 0);
      if (valid >= 0) {
        throw new WalCorruptionError(
          seg.name,
          bad.offset,
          `${bad.reason}, and a valid record follows in ${later.name} at byte offset ${valid}`,
        );
      }
      segments.push(emptyReport(later, rest.length));
      if (rest.length > 0) {
        torn.push({
          file: later.name,
          offset: 0,
          bytes: rest.length,
          reason: 'no valid record after a torn tail',
        });
      }
    }
    break;
  }
  return { segments, torn, ...log.finish(names[0]?.name) };
}

/** The segment files in `dir`, in sequence order; a gap in the sequence is corruption. */
export async function segmentNames(fs: FileLayer, dir: string): Promise<SegmentName[]> {
  const names: SegmentName[] = [];
  for (const name of await fs.readdir(dir)) {
    const parsed = parseSegmentName(name);
    if (parsed !== undefined) names.push(parsed);
  }
  names.sort((a, b) => a.seq - b.seq);
  for (let k = 1; k < names.length; k++) {
    const prev = names[k - 1]!;
    const seg = names[k]!;
    if (seg.seq === prev.seq)
      throw new WalCorruptionError(seg.name, 0, `two segments share sequence number ${seg.seq}`);
    if (seg.seq !== prev.seq + 1) {
      throw new WalCorruptionError(seg.name, 0, `segment ${prev.seq + 1} (after ${prev.name}) is missing`);
    }
  }
  return names;
}

function replaySegment(
  bytes: Uint8Array,
  seg: SegmentName,
  log: ReplayLog,
): { report: SegmentReport; bad: { offset: number; reason: string } | undefined } {
  const v = view(bytes);
  let at = 0;
  let records = 0;
  let entries = 0;
  let firstEntry: SnapshotPosition | undefined;
  let lastEntry: SnapshotPosition | undefined;
  let maxIndex = 0;
  let bad: { offset: number; reason: string } | undefined;
  while (at < bytes.length) {
    const decoded = decodeRecord(bytes, v, at);
    if (!decoded.ok) {
      bad = { offset: at, reason: decoded.reason };
      break;
    }
    const r = decoded.record;
    log.apply(r, seg.name, at);
    if (r.type === RecordType.Entry) {
      const pos = { index: r.entry.index, term: r.entry.term };
      firstEntry ??= pos;
      lastEntry = pos;
      entries++;
      if (r.entry.index > maxIndex) maxIndex = r.entry.index;
    }
    records++;
    at = decoded.end;
  }
  const report = {
    name: seg.name,
    seq: seg.seq,
    bytes: bytes.length,
    validBytes: at,
    records,
    entries,
    firstEntry,
    lastEntry,
    maxIndex,
  };
  return { report, bad };
}

function emptyReport(seg: SegmentName, bytes: number): SegmentReport {
  return {
    name: seg.name,
    seq: seg.seq,
    bytes,
    validBytes: 0,
    records: 0,
    entries: 0,
    firstEntry: undefined,
    lastEntry: undefined,
    maxIndex: 0,
  };
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The log as the records build it, applying each rule the writer followed; a record that breaks
 * one is corruption (the check on the second path: the writer asserts the same rules).
 */
class ReplayLog {
  private hardState: HardState = { term: term(0), vote: NONE, commit: index(0) };
  private snapshot: SnapshotPosition | undefined;
  /** A contiguous run; entries[0] has index `start`. */
  private entries: Entry[] = [];
  private start = 0;

  apply(r: WalRecord, file: string, offset: number): void {
    const fail = (detail: string): never => {
      throw new WalCorruptionError(file, offset, detail);
    };
    const snapIndex = this.snapshot?.index ?? 0;
    switch (r.type) {
      case RecordType.HardState:
        this.hardState = r.hardState;
        return;
      case RecordType.Entry: {
        const i = r.entry.index;
        if (i <= snapIndex) fail(`entry ${i} is at or below the snapshot at ${snapIndex}`);
        if (this.entries.length === 0) this.start = i;
        else if (i !== this.last() + 1) fail(`entry ${i} does not follow entry ${this.last()}`);
        this.entries.push(r.entry);
        return;
      }
      case RecordType.Truncate: {
        if (r.from <= snapIndex) fail(`truncation from ${r.from} reaches into the snapshot at ${snapIndex}`);
        if (this.entries.length === 0) return;
        if (r.from > this.last()) fail(`truncation from ${r.from} is past the last entry ${this.last()}`);
        this.entries.length = Math.max(0, r.from - this.start);
        return;
      }
      case RecordType.SnapshotReset: {
        if (this.snapshot !== undefined && r.index <= this.snapshot.index) {
          fail(
            `snapshot marker (${r.index}, ${r.term}) replacing the log does not follow (${this.snapshot.index}, ${this.snapshot.term})`,
          );
        }
        this.entries = [];
        this.start = 0;
        this.snapshot = { index: r.index, term: r.term };
        return;
      }
      case RecordType.Snapshot: {
        if (this.snapshot !== undefined && r.index <= this.snapshot.index) {
          if (r.index === this.snapshot.index && r.term === this.snapshot.term) return;
          fail(
            `snapshot marker (${r.index}, ${r.term}) does not follow (${this.snapshot.index}, ${this.snapshot.term})`,
          );
        }
        const held = this.entries[r.index - this.start];
        if (this.entries.length > 0 && r.index >= this.start && held !== undefined && held.term !== r.term) {
          fail(`snapshot marker (${r.index}, ${r.term}) contradicts entry ${r.index} of term ${held.term}`);
        }
        if (this.entries.length > 0 && r.index >= this.start) {
          this.entries = this.entries.slice(Math.min(this.entries.length, r.index - this.start + 1));
          this.start = r.index + 1;
        }
        this.snapshot = { index: r.index, term: r.term };
        return;
      }
    }
  }

  finish(firstFile: string | undefined): {
    hardState: HardState;
    snapshot: SnapshotPosition | undefined;
    entries: Entry[];
  } {
    const base = this.snapshot?.index ?? 0;
    if (this.entries.length > 0 && this.start !== base + 1) {
      throw new WalCorruptionError(
        firstFile ?? '(no segment)',
        0,
        `the entries start at ${this.start} but ${base === 0 ? 'the log starts at 1' : `the snapshot ends at ${base}`}: ` +
          'a segment holding the entries between is missing',
      );
    }
    const last = base + this.entries.length;
    // Each save writes its hard state before its entries: a crash can keep a commit index whose
    // entries did not reach the disk. That save was never acknowledged, so lowering it is safe.
    const hardState =
      this.hardState.commit > last ? { ...this.hardState, commit: index(last) } : this.hardState;
    return { hardState, snapshot: this.snapshot, entries: this.entries };
  }

  private last(): number {
    return this.start + this.entries.length - 1;
  }
}
