import { ConfigError } from '../raft/errors.js';
import { ByteReader, copyBytes, latin1, VARINT_BYTES_MAX } from './bytes.js';
import { crc32Update } from './crc32.js';
import { KvResultError, KvSnapshotError } from './errors.js';
import { countersProblem, decodeResult } from './result-codec.js';
import { type SessionLimits, type SessionRecord, SessionTable } from './session-table.js';
import { SNAPSHOT_FORMAT_VERSION, SNAPSHOT_MAGIC } from './snapshot-writer.js';
import { type SortedIndex, SortedIndexBuilder } from './sorted-index.js';
import { CLIENT_ID_BYTES_MAX, KEY_BYTES_MAX, VALUE_BYTES_CEILING } from './types.js';

/**
 * Reads a snapshot written by `writeSnapshot` from chunks cut anywhere, checking every field,
 * the key order and the checksum, into new structures: nothing is shared with the store being
 * restored, so a rejected snapshot leaves it untouched.
 */

/** A decoded snapshot, ready to replace a store's state. */
export interface RestoredState {
  readonly revision: number;
  readonly appliedIndex: number;
  readonly index: SortedIndex;
  readonly sessions: SessionTable;
}

const EMPTY = new Uint8Array(0);
const HEADER_BYTES_MAX = SNAPSHOT_MAGIC.length + 1 + 6 * VARINT_BYTES_MAX;
/** A session result holds at most one key-value plus a few numbers. */
const RESULT_BYTES_MAX = KEY_BYTES_MAX + VALUE_BYTES_CEILING + 8 * VARINT_BYTES_MAX;

/**
 * Reads a whole snapshot. Throws KvSnapshotError when it is truncated, corrupt or of an unknown
 * version, and ConfigError when it was written with other session limits than `limits`
 * (members that evict sessions differently could apply a retried command differently).
 */
export async function readSnapshot(
  chunks: AsyncIterable<Uint8Array>,
  limits: SessionLimits,
): Promise<RestoredState> {
  const source = chunks[Symbol.asyncIterator]();
  const r = new ChunkReader(source);
  try {
    return await readState(r, limits);
  } finally {
    // Release the source (a file, a socket) when we stopped before its end.
    if (!r.ended) await source.return?.();
  }
}

async function readState(r: ChunkReader, limits: SessionLimits): Promise<RestoredState> {
  await r.fill(HEADER_BYTES_MAX);
  const magic = r.bytes(SNAPSHOT_MAGIC.length, 'magic');
  if (!magic.every((b, i) => b === SNAPSHOT_MAGIC[i])) r.fail('magic', 'not a Flotilla KV snapshot');
  const version = r.u8('format version');
  if (version !== SNAPSHOT_FORMAT_VERSION) {
    r.fail('format version', `unknown version ${version} (this build reads ${SNAPSHOT_FORMAT_VERSION})`);
  }
  const revision = r.varint('revision');
  const appliedIndex = r.varint('appliedIndex');
  const sessionsMax = r.varint('sessionsMax');
  if (sessionsMax < 1) r.fail('sessionsMax', 'zero');
  const ttl = r.varint('sessionTtlEntries');
  const written: SessionLimits = { sessionsMax, sessionTtlEntries: ttl === 0 ? undefined : ttl };
  const count = r.varint('key count');
  const sessionCount = r.varint('session count');
  if (sessionCount > sessionsMax) r.fail('session count', `${sessionCount} above sessionsMax ${sessionsMax}`);

  const builder = new SortedIndexBuilder();
  for (let k = 0; k < count; k++) await readKeyValue(r, builder, revision);
  const sessions = new SessionTable(written);
  for (let s = 0; s < sessionCount; s++)
    sessions.load(await readSession(r, sessions, revision, appliedIndex));

  await r.fill(4);
  const computed = r.checksum();
  const stored = r.u32('checksum');
  if (stored !== computed) r.fail('checksum', `stored ${hex(stored)}, computed ${hex(computed)}`);
  await r.fill(1);
  if (r.available > 0) r.fail('end', 'bytes after the checksum');
  // Checked last, so that a corrupt header is reported as corruption, not as a setting.
  if (written.sessionsMax !== limits.sessionsMax || written.sessionTtlEntries !== limits.sessionTtlEntries) {
    throw new ConfigError(
      `the KV snapshot was written with ${describeLimits(written)} but this store has ` +
        `${describeLimits(limits)}; every member of a cluster must use the same values ` +
        `(flotilla serve or cluster --sessions-max ${written.sessionsMax}, or FLOTILLA_SESSIONS_MAX=${written.sessionsMax}, keeps this data folder's)`,
    );
  }
  return { revision, appliedIndex, index: builder.build(), sessions };
}

async function readKeyValue(r: ChunkReader, builder: SortedIndexBuilder, revision: number): Promise<void> {
  if (r.available < VARINT_BYTES_MAX) await r.fill(VARINT_BYTES_MAX);
  const keyLength = r.varint('key length');
  if (keyLength < 1 || keyLength > KEY_BYTES_MAX)
    r.fail('key length', `${keyLength} not in [1, ${KEY_BYTES_MAX}]`);
  if (r.available < keyLength + VARINT_BYTES_MAX) await r.fill(keyLength + VARINT_BYTES_MAX);
  const key = copyBytes(r.bytes(keyLength, 'key'));
  const name = latin1(key);
  const last = builder.lastKey;
  if (last !== undefined && !(last < name)) r.fail('key', 'keys out of order or repeated');
  const valueLength = r.varint('value length');
  if (valueLength > VALUE_BYTES_CEILING)
    r.fail('value length', `${valueLength} above ${VALUE_BYTES_CEILING}`);
  if (r.available < valueLength + 3 * VARINT_BYTES_MAX) await r.fill(valueLength + 3 * VARINT_BYTES_MAX);
  const value = copyBytes(r.bytes(valueLength, 'value'));
  const createRevision = r.varint('createRevision');
  const modRevision = r.varint('modRevision');
  const version = r.varint('version');
  const problem = countersProblem(createRevision, modRevision, version);
  if (problem !== undefined) r.fail('key counters', problem);
  if (modRevision > revision) r.fail('modRevision', `${modRevision} above the store revision ${revision}`);
  builder.push(name, { key, value, createRevision, modRevision, version });
}

async function readSession(
  r: ChunkReader,
  sessions: SessionTable,
  revision: number,
  appliedIndex: number,
): Promise<SessionRecord> {
  if (r.available < VARINT_BYTES_MAX) await r.fill(VARINT_BYTES_MAX);
  const idLength = r.varint('clientId length');
  if (idLength < 1 || idLength > CLIENT_ID_BYTES_MAX) {
    r.fail('clientId length', `${idLength} not in [1, ${CLIENT_ID_BYTES_MAX}]`);
  }
  const fixed = idLength + 3 * VARINT_BYTES_MAX;
  if (r.available < fixed) await r.fill(fixed);
  const clientId = r.text(idLength, 'clientId');
  if (sessions.get(clientId) !== undefined) r.fail('clientId', 'two sessions for one client');
  const seq = r.varint('seq');
  const lastIndex = r.varint('lastIndex');
  if (lastIndex > appliedIndex) r.fail('lastIndex', `${lastIndex} above appliedIndex ${appliedIndex}`);
  if (lastIndex < sessions.newestIndex) r.fail('lastIndex', 'sessions out of LRU order');
  const resultLength = r.varint('result length');
  if (resultLength > RESULT_BYTES_MAX) r.fail('result length', `${resultLength} above ${RESULT_BYTES_MAX}`);
  if (r.available < resultLength) await r.fill(resultLength);
  const at = r.pos;
  const bytes = copyBytes(r.bytes(resultLength, 'result'));
  let result: SessionRecord['result'];
  try {
    result = decodeResult(bytes);
  } catch (e) {
    if (!(e instanceof KvResultError)) throw e;
    r.pos = at;
    return r.fail('result', e.message);
  }
  if (!result.ok && result.code !== 'ERR_CONDITION_FAILED')
    r.fail('result', `${result.code} is never recorded`);
  if (result.revision > revision) r.fail('result', `revision ${result.revision} above the store revision`);
  return { clientId, seq, lastIndex, result };
}

function describeLimits(limits: SessionLimits): string {
  return `sessionsMax=${limits.sessionsMax}, sessionTtlEntries=${limits.sessionTtlEntries ?? 'none'}`;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/**
 * A ByteReader over a stream of chunks: `fill(n)` makes the next `n` bytes contiguous (fewer at
 * the end of the stream), so fields may straddle chunks. Keeps the CRC-32 of the bytes consumed.
 */
class ChunkReader extends ByteReader {
  /** The stream offset of buf[0]. */
  private base = 0;
  private crc = 0;
  /** buf[0, crcFrom) is already in `crc`. */
  private crcFrom = 0;
  ended = false;

  constructor(private readonly source: AsyncIterator<Uint8Array>) {
    // Errors go through the overridden `fail`, which knows the stream offset.
    super(EMPTY, Error);
  }

  override fail(what: string, problem: string): never {
    throw new KvSnapshotError(this.base + this.pos, `${what}: ${problem}`);
  }

  /** Makes at least `n` bytes available, or every byte left in the stream. */
  async fill(n: number): Promise<void> {
    if (this.available >= n) return;
    this.crc = crc32Update(this.crc, this.buf, this.crcFrom, this.pos);
    const parts: Uint8Array[] = [];
    let have = this.available;
    if (have > 0) parts.push(this.buf.subarray(this.pos));
    while (have < n && !this.ended) {
      const next = await this.source.next();
      if (next.done === true) {
        this.ended = true;
        break;
      }
      const chunk: unknown = next.value;
      if (!(chunk instanceof Uint8Array)) this.fail('chunk', 'not a Uint8Array');
      if (chunk.length === 0) continue;
      parts.push(chunk);
      have += chunk.length;
    }
    this.base += this.pos;
    this.buf = parts.length === 1 ? parts[0]! : concat(parts, have);
    this.pos = 0;
    this.crcFrom = 0;
  }

  /** The CRC-32 of every byte consumed so far. */
  checksum(): number {
    return crc32Update(this.crc, this.buf, this.crcFrom, this.pos);
  }
}

function concat(parts: readonly Uint8Array[], length: number): Uint8Array {
  if (length === 0) return EMPTY;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
