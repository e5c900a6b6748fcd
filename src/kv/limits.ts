import { ConfigError } from '../raft/errors.js';
import { isU53, utf8 } from './bytes.js';
import { KvLimitError } from './errors.js';
import {
  CLIENT_ID_BYTES_MAX,
  KEY_BYTES_MAX,
  type KvSession,
  RANGE_LIMIT_DEFAULT,
  VALUE_BYTES_CEILING,
  VALUE_BYTES_MAX_DEFAULT,
} from './types.js';

/**
 * The checks a request passes before it reaches the log (or a read reaches the state). Each
 * throws a KvLimitError whose message says what to change.
 */

/** Throws ERR_BAD_KEY unless `key` is 1 to KEY_BYTES_MAX bytes. */
export function checkKey(key: Uint8Array, what = 'key'): void {
  if (!(key instanceof Uint8Array)) throw new KvLimitError('ERR_BAD_KEY', `${what} must be a Uint8Array`);
  if (key.length === 0) throw new KvLimitError('ERR_BAD_KEY', `${what} must not be empty`);
  if (key.length > KEY_BYTES_MAX) {
    throw new KvLimitError(
      'ERR_BAD_KEY',
      `${what} is ${key.length} bytes; keys are at most ${KEY_BYTES_MAX} bytes`,
    );
  }
}

/** Throws ERR_BAD_KEY unless `prefix` is 0 to KEY_BYTES_MAX bytes. */
export function checkPrefix(prefix: Uint8Array): void {
  if (!(prefix instanceof Uint8Array)) throw new KvLimitError('ERR_BAD_KEY', 'prefix must be a Uint8Array');
  if (prefix.length > KEY_BYTES_MAX) {
    throw new KvLimitError(
      'ERR_BAD_KEY',
      `prefix is ${prefix.length} bytes; no key is longer than ${KEY_BYTES_MAX} bytes`,
    );
  }
}

/** Throws ERR_TOO_LARGE when `value` is longer than `valueBytesMax`. */
export function checkValue(value: Uint8Array, valueBytesMax: number): void {
  if (!(value instanceof Uint8Array)) throw new KvLimitError('ERR_TOO_LARGE', 'value must be a Uint8Array');
  if (value.length > valueBytesMax) {
    throw new KvLimitError(
      'ERR_TOO_LARGE',
      `value is ${value.length} bytes; values are at most ${valueBytesMax} bytes (valueBytesMax)`,
    );
  }
}

/** Throws ERR_BAD_SESSION unless the client id is 1 to CLIENT_ID_BYTES_MAX UTF-8 bytes and seq a u53. */
export function checkSession(session: KvSession): Uint8Array {
  if (typeof session.clientId !== 'string' || session.clientId.length === 0) {
    throw new KvLimitError('ERR_BAD_SESSION', 'session.clientId must be a non-empty string');
  }
  const id = utf8(session.clientId);
  if (id.length > CLIENT_ID_BYTES_MAX) {
    throw new KvLimitError(
      'ERR_BAD_SESSION',
      `session.clientId is ${id.length} UTF-8 bytes; at most ${CLIENT_ID_BYTES_MAX} are allowed`,
    );
  }
  if (!isU53(session.seq)) {
    throw new KvLimitError(
      'ERR_BAD_SESSION',
      `session.seq must be an integer in [0, 2^53 - 1], not ${session.seq}`,
    );
  }
  return id;
}

/** The limit of a range read: RANGE_LIMIT_DEFAULT when absent, else a positive safe integer. */
export function rangeLimit(limit: number | undefined): number {
  if (limit === undefined) return RANGE_LIMIT_DEFAULT;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new KvLimitError('ERR_BAD_LIMIT', `range limit must be a positive integer, not ${limit}`);
  }
  return limit;
}

/** `valueBytesMax` from options: the default when absent, else an integer in [0, VALUE_BYTES_CEILING]. */
export function valueBytesMaxOption(valueBytesMax: number | undefined): number {
  if (valueBytesMax === undefined) return VALUE_BYTES_MAX_DEFAULT;
  if (!Number.isSafeInteger(valueBytesMax) || valueBytesMax < 0 || valueBytesMax > VALUE_BYTES_CEILING) {
    throw new ConfigError(
      `valueBytesMax must be an integer in [0, ${VALUE_BYTES_CEILING}], not ${valueBytesMax}`,
    );
  }
  return valueBytesMax;
}
