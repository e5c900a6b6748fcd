import { assert } from '../raft/assert.js';
import { ByteReader, isU53, varintBytes, writeVarint } from './bytes.js';
import { KvCommandError } from './errors.js';
import { checkKey, checkSession, checkValue, valueBytesMaxOption } from './limits.js';
import {
  CLIENT_ID_BYTES_MAX,
  type DeleteCommand,
  KEY_BYTES_MAX,
  type KvCommand,
  type KvSession,
  type PutCommand,
  VALUE_BYTES_CEILING,
} from './types.js';

/**
 * The binary form of a KV command in the log (docs/kv.md, "Command encoding"):
 *
 *   u8 codec version (1) · u8 op (1 put, 2 delete) · u8 flags
 *   [flags & SESSION]         varint clientId length · clientId UTF-8 · varint seq
 *   [flags & IF_MOD_REVISION] varint ifModRevision (≥ 1)
 *   varint key length · key
 *   [put]                     varint value length · value
 *
 * Varints are unsigned LEB128 in their shortest form, so a decoded command re-encodes to the same
 * bytes. Unknown versions, ops and flag bits, trailing bytes and broken limits are malformed.
 */
export const COMMAND_CODEC_VERSION = 1;

const OP_PUT = 1;
const OP_DELETE = 2;
const FLAG_SESSION = 0x01;
const FLAG_IF_MOD_REVISION = 0x02;
const FLAG_IF_ABSENT = 0x04;
const FLAGS_KNOWN = FLAG_SESSION | FLAG_IF_MOD_REVISION | FLAG_IF_ABSENT;

/** Options of `encodeCommand`. */
export interface EncodeCommandOptions {
  /** The largest value accepted, in bytes; VALUE_BYTES_MAX_DEFAULT (1 MiB) when absent. */
  readonly valueBytesMax?: number | undefined;
}

/**
 * The log bytes of `command`. Throws KvLimitError for a bad key, a value above `valueBytesMax` or
 * a bad session, and KvCommandError for a malformed command (unknown op, both conditions, an
 * `ifModRevision` that is not a positive integer).
 */
export function encodeCommand(command: KvCommand, options?: EncodeCommandOptions): Uint8Array {
  const op = command.op;
  if (op !== 'put' && op !== 'delete') throw new KvCommandError(`unknown op ${String(op)}`);
  checkKey(command.key);
  const ifModRevision = command.ifModRevision;
  if (ifModRevision !== undefined && !(isU53(ifModRevision) && ifModRevision >= 1)) {
    throw new KvCommandError(`ifModRevision must be a positive integer, not ${ifModRevision}`);
  }
  const ifAbsent = op === 'put' && command.ifAbsent === true;
  if (ifAbsent && ifModRevision !== undefined) {
    throw new KvCommandError('a put takes ifModRevision or ifAbsent, not both');
  }
  const value = op === 'put' ? command.value : undefined;
  if (value !== undefined) checkValue(value, valueBytesMaxOption(options?.valueBytesMax));
  const session = command.session;
  const clientId = session === undefined ? undefined : checkSession(session);

  let flags = 0;
  let size = 3 + varintBytes(command.key.length) + command.key.length;
  if (clientId !== undefined) {
    flags |= FLAG_SESSION;
    size += varintBytes(clientId.length) + clientId.length + varintBytes(session!.seq);
  }
  if (ifModRevision !== undefined) {
    flags |= FLAG_IF_MOD_REVISION;
    size += varintBytes(ifModRevision);
  }
  if (ifAbsent) flags |= FLAG_IF_ABSENT;
  if (value !== undefined) size += varintBytes(value.length) + value.length;

  const out = new Uint8Array(size);
  out[0] = COMMAND_CODEC_VERSION;
  out[1] = op === 'put' ? OP_PUT : OP_DELETE;
  out[2] = flags;
  let pos = 3;
  if (clientId !== undefined) {
    pos = writeVarint(out, pos, clientId.length);
    out.set(clientId, pos);
    pos = writeVarint(out, pos + clientId.length, session!.seq);
  }
  if (ifModRevision !== undefined) pos = writeVarint(out, pos, ifModRevision);
  pos = writeVarint(out, pos, command.key.length);
  out.set(command.key, pos);
  pos += command.key.length;
  if (value !== undefined) {
    pos = writeVarint(out, pos, value.length);
    out.set(value, pos);
    pos += value.length;
  }
  assert(pos === size, 'encodeCommand: bytes written === size computed');
  return out;
}

/**
 * The command in `bytes`; throws KvCommandError when they do not hold exactly one valid command.
 * The key and value are views of `bytes`, not copies.
 */
export function decodeCommand(bytes: Uint8Array): KvCommand {
  const r = new ByteReader(bytes, KvCommandError);
  const version = r.u8('codec version');
  if (version !== COMMAND_CODEC_VERSION) {
    r.pos = 0;
    r.fail('codec version', `unknown version ${version} (this build reads ${COMMAND_CODEC_VERSION})`);
  }
  const op = r.u8('op');
  if (op !== OP_PUT && op !== OP_DELETE) r.fail('op', `unknown op ${op}`);
  const flags = r.u8('flags');
  if ((flags & ~FLAGS_KNOWN) !== 0) r.fail('flags', `unknown flag bits 0x${flags.toString(16)}`);
  if ((flags & FLAG_IF_ABSENT) !== 0 && (op === OP_DELETE || (flags & FLAG_IF_MOD_REVISION) !== 0)) {
    r.fail('flags', 'ifAbsent is only for a put without ifModRevision');
  }
  let session: KvSession | undefined;
  if ((flags & FLAG_SESSION) !== 0) {
    const clientId = r.utf8(CLIENT_ID_BYTES_MAX, 'session clientId');
    if (clientId.length === 0) r.fail('session clientId', 'empty');
    session = { clientId, seq: r.varint('session seq') };
  }
  let ifModRevision: number | undefined;
  if ((flags & FLAG_IF_MOD_REVISION) !== 0) {
    ifModRevision = r.varint('ifModRevision');
    if (ifModRevision === 0) r.fail('ifModRevision', 'zero (revisions start at 1)');
  }
  const key = r.lengthPrefixed(KEY_BYTES_MAX, 'key');
  if (key.length === 0) r.fail('key', 'empty');
  if (op === OP_DELETE) {
    r.end('delete command');
    const del: DeleteCommand = { op: 'delete', key, ifModRevision, session };
    return del;
  }
  const value = r.lengthPrefixed(VALUE_BYTES_CEILING, 'value');
  r.end('put command');
  const ifAbsent = (flags & FLAG_IF_ABSENT) !== 0 ? true : undefined;
  const put: PutCommand = { op: 'put', key, value, ifModRevision, ifAbsent, session };
  return put;
}
