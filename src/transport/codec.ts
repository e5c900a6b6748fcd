import { Buffer } from 'node:buffer';
import { assert, assertNever, InvariantError } from '../raft/assert.js';
import type { Message } from '../raft/messages.js';
import { type Entry, EntryKind, index, type NodeId, type SnapshotMeta, term } from '../raft/types.js';
import { FrameError } from './errors.js';
import {
  FRAME_BYTES_MAX_DEFAULT,
  FRAME_HEADER_BYTES,
  type Frame,
  FrameType,
  frameTypeOf,
  HANDSHAKE_MAGIC,
  STRING_BYTES_MAX,
} from './frames.js';

// Encoding and decoding of the frames defined in frames.ts; the layout of each body is in
// docs/transport.md.

const U32 = 0x1_0000_0000;
const U53_HIGH_LIMIT = 0x20_0000;
/** term, index, kind, data length: the least an entry takes on the wire. */
const ENTRY_FIXED = 21;

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Encoded short strings — the node ids and cluster id that every message repeats — so they are
 * encoded once, not per message. Long strings (error texts) are not cached. Bounded: cleared when full.
 */
const stringCache = new Map<string, Uint8Array>();
const STRING_CACHE_MAX = 1024;
const CACHED_STRING_LENGTH_MAX = 64;

function stringBytes(s: string): Uint8Array {
  const cached = stringCache.get(s);
  if (cached !== undefined) return cached;
  assert(!LONE_SURROGATE.test(s), `codec: string ${JSON.stringify(s)} is not well-formed UTF-16`);
  const bytes = utf8.encode(s);
  assert(bytes.length <= STRING_BYTES_MAX, `codec: a string of ${bytes.length} UTF-8 bytes is too long`);
  if (s.length <= CACHED_STRING_LENGTH_MAX) {
    if (stringCache.size >= STRING_CACHE_MAX) stringCache.clear();
    stringCache.set(s, bytes);
  }
  return bytes;
}

/** Where a body is written: `Measure` counts the bytes, `Put` writes them (two passes, one buffer). */
interface Sink {
  u8(n: number): void;
  u16(n: number): void;
  u32(n: number): void;
  u64(n: number): void;
  bytes(b: Uint8Array): void;
}

class Measure implements Sink {
  n = 0;
  u8(): void {
    this.n += 1;
  }
  u16(): void {
    this.n += 2;
  }
  u32(): void {
    this.n += 4;
  }
  u64(): void {
    this.n += 8;
  }
  bytes(b: Uint8Array): void {
    this.n += b.length;
  }
}

class Put implements Sink {
  private readonly view: DataView;
  at = 0;
  constructor(readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  u8(n: number): void {
    if (!(Number.isInteger(n) && n >= 0 && n <= 0xff)) badValue(n, 'a u8');
    this.buf[this.at++] = n;
  }
  u16(n: number): void {
    if (!(Number.isInteger(n) && n >= 0 && n <= 0xffff)) badValue(n, 'a u16');
    this.view.setUint16(this.at, n, true);
    this.at += 2;
  }
  u32(n: number): void {
    if (!(Number.isInteger(n) && n >= 0 && n < U32)) badValue(n, 'a u32');
    this.view.setUint32(this.at, n, true);
    this.at += 4;
  }
  u64(n: number): void {
    if (!(Number.isSafeInteger(n) && n >= 0)) badValue(n, 'an integer in [0, 2^53)');
    this.view.setUint32(this.at, n % U32, true);
    this.view.setUint32(this.at + 4, Math.floor(n / U32), true);
    this.at += 8;
  }
  bytes(b: Uint8Array): void {
    this.buf.set(b, this.at);
    this.at += b.length;
  }
}

/** A field out of range is a bug in the sender (the core or the transport), not bad input. */
function badValue(n: number, what: string): never {
  throw new InvariantError(`codec: ${n} is not ${what}`);
}

function putString(s: Sink, value: string): void {
  const b = stringBytes(value);
  s.u16(b.length);
  s.bytes(b);
}

/**
 * Encodes one frame into a buffer of exactly its size. Throws FrameError when the frame would
 * exceed `frameBytesMax`; a field out of range (a negative term, a non-integer) is a bug and throws
 * InvariantError.
 */
export function encodeFrame(frame: Frame, frameBytesMax: number = FRAME_BYTES_MAX_DEFAULT): Uint8Array {
  const measure = new Measure();
  putBody(measure, frame);
  const size = FRAME_HEADER_BYTES + measure.n;
  if (size > frameBytesMax) {
    throw new FrameError(`a ${frame.type} frame of ${size} bytes exceeds frameBytesMax (${frameBytesMax})`);
  }
  // Not zero-filled: the assertion below proves every byte was written.
  const raw = Buffer.allocUnsafe(size);
  const put = new Put(new Uint8Array(raw.buffer, raw.byteOffset, size));
  put.u32(size - 4);
  put.u8(frameTypeOf(frame));
  putBody(put, frame);
  if (put.at !== size)
    throw new InvariantError(`codec: wrote ${put.at} of ${size} bytes of a ${frame.type} frame`);
  return put.buf;
}

function putBody(s: Sink, f: Frame): void {
  switch (f.type) {
    case 'app':
    case 'app-resp':
    case 'heartbeat':
    case 'heartbeat-resp':
    case 'vote':
    case 'pre-vote':
    case 'vote-resp':
    case 'pre-vote-resp':
    case 'snapshot':
    case 'timeout-now':
      putMessage(s, f);
      return;
    case 'handshake':
      s.u32(HANDSHAKE_MAGIC);
      s.u16(f.version);
      putString(s, f.clusterId);
      putString(s, f.from);
      putString(s, f.to);
      return;
    case 'refuse':
      putString(s, f.reason);
      return;
    case 'rpc-request':
    case 'rpc-response':
      s.u64(f.id);
      s.bytes(f.payload);
      return;
    case 'rpc-error':
      s.u64(f.id);
      putString(s, f.message);
      return;
    case 'snapshot-chunk':
      putSnapshotMeta(s, f.meta);
      s.u64(f.offset);
      s.u8(f.last ? 1 : 0);
      s.bytes(f.data);
      return;
    case 'snapshot-ack':
      s.u64(f.snapshotIndex);
      s.u64(f.offset);
      return;
    case 'snapshot-result':
      s.u64(f.snapshotIndex);
      s.u8(f.ok ? 1 : 0);
      putString(s, f.reason);
      return;
    default:
      assertNever(f);
  }
}

function putMessage(s: Sink, m: Message): void {
  putString(s, m.from);
  putString(s, m.to);
  s.u64(m.term);
  switch (m.type) {
    case 'app':
      s.u64(m.prevIndex);
      s.u64(m.prevTerm);
      s.u64(m.commit);
      s.u32(m.entries.length);
      for (const e of m.entries) {
        s.u64(e.term);
        s.u64(e.index);
        s.u8(e.kind);
        s.u32(e.data.length);
        s.bytes(e.data);
      }
      return;
    case 'app-resp':
      s.u64(m.index);
      s.u8(m.reject ? 1 : 0);
      s.u64(m.hintIndex);
      s.u64(m.hintTerm);
      return;
    case 'heartbeat':
      s.u64(m.commit);
      s.u64(m.context);
      return;
    case 'heartbeat-resp':
      s.u64(m.context);
      return;
    case 'vote':
    case 'pre-vote':
      s.u64(m.lastIndex);
      s.u64(m.lastTerm);
      s.u8(m.transfer ? 1 : 0);
      return;
    case 'timeout-now':
      return;
    case 'vote-resp':
    case 'pre-vote-resp':
      s.u8(m.reject ? 1 : 0);
      return;
    case 'snapshot':
      putSnapshotMeta(s, m.snapshot);
      return;
    default:
      assertNever(m);
  }
}

/**
 * A snapshot's identity and the whole configuration at its index: index, term, three id lists
 * (voters, learners, outgoing voters) and, behind a presence flag, the addresses as (id, address)
 * pairs sorted by id — one canonical order, whatever order the record's keys come in.
 */
function putSnapshotMeta(s: Sink, meta: SnapshotMeta): void {
  s.u64(meta.index);
  s.u64(meta.term);
  putIds(s, meta.voters);
  putIds(s, meta.learners ?? []);
  putIds(s, meta.outgoing ?? []);
  const addresses = meta.addresses;
  s.u8(addresses === undefined ? 0 : 1);
  if (addresses === undefined) return;
  const ids = Object.keys(addresses).sort();
  s.u16(ids.length);
  for (const id of ids) {
    putString(s, id);
    putString(s, addresses[id]!);
  }
}

function putIds(s: Sink, ids: readonly NodeId[]): void {
  s.u16(ids.length);
  for (const id of ids) putString(s, id);
}

/** Reads a body; every read checks the bounds first and reports a shortfall as a FrameError. */
class Cursor {
  private readonly view: DataView;
  at: number;
  constructor(
    private readonly bytes: Uint8Array,
    at: number,
    private readonly end: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.at = at;
  }

  get left(): number {
    return this.end - this.at;
  }

  private need(n: number, what: string): void {
    if (this.end - this.at < n)
      throw new FrameError(`truncated ${what}: needs ${n} bytes, ${this.left} left`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.at++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const n = this.view.getUint16(this.at, true);
    this.at += 2;
    return n;
  }

  u32(what: string): number {
    this.need(4, what);
    const n = this.view.getUint32(this.at, true);
    this.at += 4;
    return n;
  }

  u64(what: string): number {
    this.need(8, what);
    const lo = this.view.getUint32(this.at, true);
    const hi = this.view.getUint32(this.at + 4, true);
    if (hi >= U53_HIGH_LIMIT) throw new FrameError(`${what} is 2^53 or more`);
    this.at += 8;
    return hi * U32 + lo;
  }

  bool(what: string): boolean {
    const b = this.u8(what);
    if (b > 1) throw new FrameError(`${what} is ${b}, not 0 or 1`);
    return b === 1;
  }

  str(what: string): string {
    const n = this.u16(what);
    this.need(n, what);
    const b = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    try {
      return utf8Strict.decode(b);
    } catch {
      throw new FrameError(`${what} is not valid UTF-8`);
    }
  }

  /** A view of `n` bytes of the frame (no copy); a plain Uint8Array even when the frame is a Buffer. */
  bytesView(n: number, what: string): Uint8Array {
    this.need(n, what);
    const b = new Uint8Array(this.bytes.buffer, this.bytes.byteOffset + this.at, n);
    this.at += n;
    return b;
  }

  /** A view of the bytes up to the end of the frame (no copy). */
  rest(): Uint8Array {
    return this.bytesView(this.end - this.at, 'rest');
  }

  done(type: string): void {
    if (this.at !== this.end) throw new FrameError(`${this.left} trailing bytes after a ${type} body`);
  }
}

/**
 * The size of the frame that starts with these four bytes, checked against the limit. Throws
 * FrameError when the length field is impossible or the frame would be too large.
 */
export function frameSize(length: number, frameBytesMax: number): number {
  if (length < 1) throw new FrameError(`a length field of ${length} (a frame has at least a type byte)`);
  const size = 4 + length;
  if (size > frameBytesMax) {
    throw new FrameError(`a frame of ${size} bytes exceeds frameBytesMax (${frameBytesMax})`);
  }
  return size;
}

/**
 * Decodes exactly one whole frame. Byte fields (entry data, payloads, snapshot chunks) are views
 * into `bytes`, not copies: they keep `bytes` alive, and must not be modified. Throws FrameError
 * (and nothing else) when the frame is truncated, has trailing bytes, is larger than
 * `frameBytesMax`, or does not parse.
 */
export function decodeFrame(bytes: Uint8Array, frameBytesMax: number = FRAME_BYTES_MAX_DEFAULT): Frame {
  if (bytes.length < FRAME_HEADER_BYTES) {
    throw new FrameError(`truncated: ${bytes.length} bytes, a frame has at least ${FRAME_HEADER_BYTES}`);
  }
  const length = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  const size = frameSize(length, frameBytesMax);
  if (size !== bytes.length) {
    throw new FrameError(`the length field says ${size} bytes but the frame has ${bytes.length}`);
  }
  const c = new Cursor(bytes, FRAME_HEADER_BYTES, size);
  const frame = readBody(c, bytes[4]!);
  c.done(frame.type);
  return frame;
}

function readBody(c: Cursor, type: number): Frame {
  switch (type) {
    case FrameType.App:
    case FrameType.AppResp:
    case FrameType.Heartbeat:
    case FrameType.HeartbeatResp:
    case FrameType.Vote:
    case FrameType.PreVote:
    case FrameType.VoteResp:
    case FrameType.PreVoteResp:
    case FrameType.Snapshot:
    case FrameType.TimeoutNow:
      return readMessage(c, type);
    case FrameType.Handshake: {
      const magic = c.u32('handshake magic');
      if (magic !== HANDSHAKE_MAGIC) throw new FrameError('a handshake without the FLOT magic');
      const version = c.u16('handshake version');
      const clusterId = c.str('handshake cluster id');
      const from = c.str('handshake sender');
      const to = c.str('handshake receiver');
      return { type: 'handshake', version, clusterId, from, to };
    }
    case FrameType.Refuse:
      return { type: 'refuse', reason: c.str('refusal reason') };
    case FrameType.RpcRequest:
      return { type: 'rpc-request', id: c.u64('request id'), payload: c.rest() };
    case FrameType.RpcResponse:
      return { type: 'rpc-response', id: c.u64('request id'), payload: c.rest() };
    case FrameType.RpcError:
      return { type: 'rpc-error', id: c.u64('request id'), message: c.str('error message') };
    case FrameType.SnapshotChunk: {
      const meta = readSnapshotMeta(c);
      const offset = c.u64('chunk offset');
      const last = c.bool('chunk last flag');
      return { type: 'snapshot-chunk', meta, offset, last, data: c.rest() };
    }
    case FrameType.SnapshotAck:
      return {
        type: 'snapshot-ack',
        snapshotIndex: index(c.u64('snapshot index')),
        offset: c.u64('ack offset'),
      };
    case FrameType.SnapshotResult: {
      const snapshotIndex = index(c.u64('snapshot index'));
      const ok = c.bool('result flag');
      return { type: 'snapshot-result', snapshotIndex, ok, reason: c.str('result reason') };
    }
    default:
      throw new FrameError(`unknown frame type ${type}`);
  }
}

function readMessage(c: Cursor, type: FrameType): Message {
  const from = c.str('message sender');
  const to = c.str('message receiver');
  const t = term(c.u64('message term'));
  switch (type) {
    case FrameType.App: {
      const prevIndex = index(c.u64('prevIndex'));
      const prevTerm = term(c.u64('prevTerm'));
      const commit = index(c.u64('commit'));
      const entries = readEntries(c);
      return { type: 'app', from, to, term: t, prevIndex, prevTerm, entries, commit };
    }
    case FrameType.AppResp: {
      const i = index(c.u64('index'));
      const reject = c.bool('reject flag');
      const hintIndex = index(c.u64('hintIndex'));
      const hintTerm = term(c.u64('hintTerm'));
      return { type: 'app-resp', from, to, term: t, index: i, reject, hintIndex, hintTerm };
    }
    case FrameType.Heartbeat: {
      const commit = index(c.u64('commit'));
      return { type: 'heartbeat', from, to, term: t, commit, context: c.u64('read context') };
    }
    case FrameType.HeartbeatResp:
      return { type: 'heartbeat-resp', from, to, term: t, context: c.u64('read context') };
    case FrameType.Vote:
    case FrameType.PreVote: {
      const lastIndex = index(c.u64('lastIndex'));
      const lastTerm = term(c.u64('lastTerm'));
      const kind = type === FrameType.Vote ? 'vote' : 'pre-vote';
      return { type: kind, from, to, term: t, lastIndex, lastTerm, transfer: c.bool('transfer flag') };
    }
    case FrameType.VoteResp:
      return { type: 'vote-resp', from, to, term: t, reject: c.bool('reject flag') };
    case FrameType.PreVoteResp:
      return { type: 'pre-vote-resp', from, to, term: t, reject: c.bool('reject flag') };
    case FrameType.TimeoutNow:
      return { type: 'timeout-now', from, to, term: t };
    case FrameType.Snapshot:
      return { type: 'snapshot', from, to, term: t, snapshot: readSnapshotMeta(c) };
    default:
      throw new InvariantError(`codec: frame type ${type} is not a Raft message`);
  }
}

function readEntries(c: Cursor): Entry[] {
  const count = c.u32('entry count');
  // Checked before anything is allocated: a lying count cannot make us build a huge array.
  if (count * ENTRY_FIXED > c.left) throw new FrameError(`${count} entries cannot fit in ${c.left} bytes`);
  const entries: Entry[] = [];
  for (let k = 0; k < count; k++) {
    const t = term(c.u64('entry term'));
    const i = index(c.u64('entry index'));
    const kind = c.u8('entry kind');
    if (kind !== EntryKind.Normal && kind !== EntryKind.Empty && kind !== EntryKind.Config) {
      throw new FrameError(`entry kind ${kind}`);
    }
    const n = c.u32('entry data length');
    entries.push({ term: t, index: i, kind, data: c.bytesView(n, 'entry data') });
  }
  return entries;
}

/** The inverse of putSnapshotMeta; empty learner and outgoing lists are left out, as snapshotMetaOf does. */
function readSnapshotMeta(c: Cursor): SnapshotMeta {
  const i = index(c.u64('snapshot index'));
  const t = term(c.u64('snapshot term'));
  const voters = readIds(c, 'voter');
  const learners = readIds(c, 'learner');
  const outgoing = readIds(c, 'outgoing voter');
  const addresses = c.bool('snapshot addresses flag') ? readAddresses(c) : undefined;
  return {
    index: i,
    term: t,
    voters,
    ...(learners.length > 0 ? { learners } : {}),
    ...(outgoing.length > 0 ? { outgoing } : {}),
    ...(addresses !== undefined ? { addresses } : {}),
  };
}

function readIds(c: Cursor, what: string): NodeId[] {
  const count = c.u16(`${what} count`);
  if (count * 2 > c.left) throw new FrameError(`${count} ${what} ids cannot fit in ${c.left} bytes`);
  const ids: NodeId[] = [];
  for (let k = 0; k < count; k++) ids.push(c.str(`${what} id`));
  return ids;
}

function readAddresses(c: Cursor): Record<NodeId, string> {
  const count = c.u16('address count');
  if (count * 4 > c.left) throw new FrameError(`${count} addresses cannot fit in ${c.left} bytes`);
  const pairs: [NodeId, string][] = [];
  for (let k = 0; k < count; k++) {
    const id = c.str('address node id');
    // Sorted and unique, as the encoder writes them: one map has one encoding.
    if (k > 0 && !(pairs[k - 1]![0] < id))
      throw new FrameError('snapshot addresses are not sorted by node id');
    pairs.push([id, c.str('peer address')]);
  }
  // fromEntries defines own properties, so an id such as "__proto__" is kept as data.
  return Object.fromEntries(pairs);
}
