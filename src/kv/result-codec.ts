import { assert, assertNever } from '../raft/assert.js';
import { ByteReader, utf8, varintBytes, writeVarint } from './bytes.js';
import { KvResultError } from './errors.js';
import { KEY_BYTES_MAX, type KeyValue, type KvResult, VALUE_BYTES_CEILING } from './types.js';

/**
 * The binary form of a KvResult, for a leader answering a write a follower forwarded, and for the
 * session table in a snapshot (docs/kv.md, "Result encoding"):
 *
 *   u8 codec version (1) · u8 tag, then by tag:
 *   1 put ok             varint revision · varint createRevision · varint version
 *   2 delete ok          varint revision · u8 deleted (0 or 1)
 *   3 condition failed   varint revision · u8 has current (0 or 1) · [key-value]
 *   4 bad command        varint length · message UTF-8
 *   5 session stale      varint lastSeq
 *
 *   key-value: varint key length · key · varint value length · value ·
 *              varint createRevision · varint modRevision · varint version
 */
export const RESULT_CODEC_VERSION = 1;

const TAG_PUT = 1;
const TAG_DELETE = 2;
const TAG_CONDITION_FAILED = 3;
const TAG_BAD_COMMAND = 4;
const TAG_SESSION_STALE = 5;

/** The longest bad-command message a decoder accepts, in UTF-8 bytes. */
const MESSAGE_BYTES_MAX = 64 * 1024;

/** The bytes of `result`. */
export function encodeResult(result: KvResult): Uint8Array {
  if (result.ok) {
    switch (result.op) {
      case 'put':
        return fixed(TAG_PUT, result.revision, result.createRevision, result.version);
      case 'delete':
        return fixed(TAG_DELETE, result.revision, result.deleted ? 1 : 0);
      default:
        return assertNever(result);
    }
  }
  switch (result.code) {
    case 'ERR_CONDITION_FAILED': {
      const kv = result.current;
      const size = 3 + varintBytes(result.revision) + (kv === undefined ? 0 : keyValueBytes(kv));
      const out = header(size, TAG_CONDITION_FAILED);
      let pos = writeVarint(out, 2, result.revision);
      out[pos++] = kv === undefined ? 0 : 1;
      if (kv !== undefined) pos = writeKeyValue(out, pos, kv);
      assert(pos === size, 'encodeResult: condition-failed bytes written === size computed');
      return out;
    }
    case 'ERR_BAD_COMMAND': {
      const message = truncateUtf8(utf8(result.message), MESSAGE_BYTES_MAX);
      const out = header(2 + varintBytes(message.length) + message.length, TAG_BAD_COMMAND);
      out.set(message, writeVarint(out, 2, message.length));
      return out;
    }
    case 'ERR_SESSION_STALE':
      return fixed(TAG_SESSION_STALE, result.lastSeq);
    default:
      return assertNever(result);
  }
}

/**
 * The result in `bytes`; throws KvResultError when they do not hold exactly one valid result.
 * Byte arrays in a decoded `current` are views of `bytes`, not copies.
 */
export function decodeResult(bytes: Uint8Array): KvResult {
  const r = new ByteReader(bytes, KvResultError);
  const version = r.u8('codec version');
  if (version !== RESULT_CODEC_VERSION) {
    r.pos = 0;
    r.fail('codec version', `unknown version ${version} (this build reads ${RESULT_CODEC_VERSION})`);
  }
  const tag = r.u8('tag');
  let result: KvResult;
  switch (tag) {
    case TAG_PUT: {
      const revision = r.varint('revision');
      const createRevision = r.varint('createRevision');
      const version = r.varint('version');
      const problem = countersProblem(createRevision, revision, version);
      if (problem !== undefined) r.fail('put result', problem);
      result = { ok: true, op: 'put', revision, createRevision, version };
      break;
    }
    case TAG_DELETE: {
      const revision = r.varint('revision');
      const deleted = r.u8('deleted');
      if (deleted > 1) r.fail('deleted', `not a boolean (${deleted})`);
      result = { ok: true, op: 'delete', revision, deleted: deleted === 1 };
      break;
    }
    case TAG_CONDITION_FAILED: {
      const revision = r.varint('revision');
      const has = r.u8('has current');
      if (has > 1) r.fail('has current', `not a boolean (${has})`);
      const current = has === 1 ? readKeyValue(r) : undefined;
      if (current !== undefined && current.modRevision > revision) {
        r.fail('current', `modRevision ${current.modRevision} above the revision ${revision}`);
      }
      result = { ok: false, code: 'ERR_CONDITION_FAILED', revision, current };
      break;
    }
    case TAG_BAD_COMMAND:
      result = { ok: false, code: 'ERR_BAD_COMMAND', message: r.utf8(MESSAGE_BYTES_MAX, 'message') };
      break;
    case TAG_SESSION_STALE:
      result = { ok: false, code: 'ERR_SESSION_STALE', lastSeq: r.varint('lastSeq') };
      break;
    default:
      return r.fail('tag', `unknown tag ${tag}`);
  }
  r.end('result');
  return result;
}

/**
 * What is wrong with a key's counters, or undefined: every put raises the revision by one, so
 * 1 ≤ createRevision ≤ modRevision and 1 ≤ version ≤ modRevision − createRevision + 1.
 */
export function countersProblem(
  createRevision: number,
  modRevision: number,
  version: number,
): string | undefined {
  if (createRevision < 1) return `createRevision ${createRevision} below 1`;
  if (modRevision < createRevision)
    return `modRevision ${modRevision} below createRevision ${createRevision}`;
  if (version < 1) return `version ${version} below 1`;
  if (version > modRevision - createRevision + 1) {
    return `version ${version} above the puts possible between revisions ${createRevision} and ${modRevision}`;
  }
  return undefined;
}

/** `bytes` cut to at most `max` bytes at a character boundary. */
function truncateUtf8(bytes: Uint8Array, max: number): Uint8Array {
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

function header(size: number, tag: number): Uint8Array {
  const out = new Uint8Array(size);
  out[0] = RESULT_CODEC_VERSION;
  out[1] = tag;
  return out;
}

/** A result of only a tag and small numbers (a byte 0 or 1 is its own varint). */
function fixed(tag: number, a: number, b?: number, c?: number): Uint8Array {
  const size =
    2 + varintBytes(a) + (b === undefined ? 0 : varintBytes(b)) + (c === undefined ? 0 : varintBytes(c));
  const out = header(size, tag);
  let pos = writeVarint(out, 2, a);
  if (b !== undefined) pos = writeVarint(out, pos, b);
  if (c !== undefined) pos = writeVarint(out, pos, c);
  assert(pos === size, 'encodeResult: bytes written === size computed');
  return out;
}

function keyValueBytes(kv: KeyValue): number {
  return (
    varintBytes(kv.key.length) +
    kv.key.length +
    varintBytes(kv.value.length) +
    kv.value.length +
    varintBytes(kv.createRevision) +
    varintBytes(kv.modRevision) +
    varintBytes(kv.version)
  );
}

function writeKeyValue(out: Uint8Array, pos: number, kv: KeyValue): number {
  pos = writeVarint(out, pos, kv.key.length);
  out.set(kv.key, pos);
  pos = writeVarint(out, pos + kv.key.length, kv.value.length);
  out.set(kv.value, pos);
  pos = writeVarint(out, pos + kv.value.length, kv.createRevision);
  pos = writeVarint(out, pos, kv.modRevision);
  return writeVarint(out, pos, kv.version);
}

function readKeyValue(r: ByteReader): KeyValue {
  const key = r.lengthPrefixed(KEY_BYTES_MAX, 'current key');
  if (key.length === 0) r.fail('current key', 'empty');
  const value = r.lengthPrefixed(VALUE_BYTES_CEILING, 'current value');
  const createRevision = r.varint('current createRevision');
  const modRevision = r.varint('current modRevision');
  const version = r.varint('current version');
  const problem = countersProblem(createRevision, modRevision, version);
  if (problem !== undefined) r.fail('current', problem);
  return { key, value, createRevision, modRevision, version };
}
