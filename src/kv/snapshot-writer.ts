import { utf8 } from './bytes.js';
import { crc32Update } from './crc32.js';
import { encodeResult } from './result-codec.js';
import type { SessionLimits, SessionRecord } from './session-table.js';
import type { FrozenIndex } from './sorted-index.js';

/**
 * The KV snapshot format, version 1 (docs/kv.md, "Snapshot format"). One byte stream, cut into
 * chunks of exactly SNAPSHOT_CHUNK_BYTES (the last one shorter); a field may straddle two chunks.
 *
 *   "FLKV" · u8 format version (1)
 *   varint revision · varint appliedIndex · varint sessionsMax · varint sessionTtlEntries (0: none)
 *   varint key count · varint session count
 *   per key, in strictly increasing byte order:
 *     varint key length · key · varint value length · value ·
 *     varint createRevision · varint modRevision · varint version
 *   per session, least recently used first:
 *     varint clientId length · clientId UTF-8 · varint seq · varint lastIndex ·
 *     varint result length · result (encodeResult)
 *   u32 little-endian CRC-32 of every byte before it
 *
 * The same state always gives the same bytes, so members that applied the same log produce
 * identical snapshots.
 */
export const SNAPSHOT_MAGIC = new Uint8Array([0x46, 0x4c, 0x4b, 0x56]);
export const SNAPSHOT_FORMAT_VERSION = 1;
/** The size of every chunk a snapshot yields but the last. */
export const SNAPSHOT_CHUNK_BYTES = 64 * 1024;

/** What a snapshot holds, captured synchronously by `KvStore.snapshot()`. */
export interface SnapshotState {
  readonly revision: number;
  readonly appliedIndex: number;
  readonly limits: SessionLimits;
  readonly index: FrozenIndex;
  readonly sessions: readonly SessionRecord[];
}

/** Streams `state` in the snapshot format, a chunk at a time, as the reader pulls. */
export async function* writeSnapshot(state: SnapshotState): AsyncGenerator<Uint8Array, void, undefined> {
  const w = new ChunkWriter();
  w.bytes(SNAPSHOT_MAGIC);
  w.u8(SNAPSHOT_FORMAT_VERSION);
  w.varint(state.revision);
  w.varint(state.appliedIndex);
  w.varint(state.limits.sessionsMax);
  w.varint(state.limits.sessionTtlEntries ?? 0);
  w.varint(state.index.size);
  w.varint(state.sessions.length);
  for (const chunk of state.index.chunks) {
    for (const kv of chunk.kvs) {
      w.varint(kv.key.length);
      w.bytes(kv.key);
      w.varint(kv.value.length);
      w.bytes(kv.value);
      w.varint(kv.createRevision);
      w.varint(kv.modRevision);
      w.varint(kv.version);
      if (w.sealedCount > 0) for (const out of w.take()) yield out;
    }
  }
  for (const session of state.sessions) {
    const id = utf8(session.clientId);
    const result = encodeResult(session.result);
    w.varint(id.length);
    w.bytes(id);
    w.varint(session.seq);
    w.varint(session.lastIndex);
    w.varint(result.length);
    w.bytes(result);
    if (w.sealedCount > 0) for (const out of w.take()) yield out;
  }
  for (const out of w.finish()) yield out;
}

/** Writes into fixed-size chunks, sealing each as it fills and checksumming what it sealed. */
class ChunkWriter {
  private buf = new Uint8Array(SNAPSHOT_CHUNK_BYTES);
  private at = 0;
  private crc = 0;
  private sealed: Uint8Array[] = [];

  get sealedCount(): number {
    return this.sealed.length;
  }

  u8(byte: number): void {
    if (this.at === SNAPSHOT_CHUNK_BYTES) this.seal();
    this.buf[this.at++] = byte;
  }

  varint(value: number): void {
    while (value >= 0x80) {
      this.u8((value % 0x80) | 0x80);
      value = Math.floor(value / 0x80);
    }
    this.u8(value);
  }

  bytes(bytes: Uint8Array): void {
    let from = 0;
    while (from < bytes.length) {
      if (this.at === SNAPSHOT_CHUNK_BYTES) this.seal();
      const n = Math.min(SNAPSHOT_CHUNK_BYTES - this.at, bytes.length - from);
      this.buf.set(bytes.subarray(from, from + n), this.at);
      this.at += n;
      from += n;
    }
  }

  /** The chunks sealed since the last take. */
  take(): Uint8Array[] {
    const out = this.sealed;
    this.sealed = [];
    return out;
  }

  /** Appends the checksum trailer and returns the remaining chunks. */
  finish(): Uint8Array[] {
    const crc = crc32Update(this.crc, this.buf, 0, this.at);
    // Sealing inside the trailer updates this.crc again; it is not read after this point.
    this.u8(crc & 0xff);
    this.u8((crc >>> 8) & 0xff);
    this.u8((crc >>> 16) & 0xff);
    this.u8(crc >>> 24);
    this.sealed.push(this.buf.slice(0, this.at));
    return this.take();
  }

  private seal(): void {
    this.crc = crc32Update(this.crc, this.buf, 0, this.at);
    this.sealed.push(this.buf);
    this.buf = new Uint8Array(SNAPSHOT_CHUNK_BYTES);
    this.at = 0;
  }
}
