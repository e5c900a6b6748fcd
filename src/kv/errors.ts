import { FlotillaError } from '../raft/errors.js';

/** Bytes that should hold a KV command do not: the decoder names what is wrong and where. */
export class KvCommandError extends FlotillaError {
  override readonly code = 'ERR_BAD_COMMAND';
  constructor(message: string) {
    super(`bad KV command: ${message}`);
    this.name = 'KvCommandError';
  }
}

/** Bytes that should hold a KV result (forwarded from the leader) do not. */
export class KvResultError extends FlotillaError {
  override readonly code = 'ERR_BAD_RESULT';
  constructor(message: string) {
    super(`bad KV result: ${message}; the peer that sent it runs an incompatible or broken version`);
    this.name = 'KvResultError';
  }
}

/** Which limit a request broke. */
export type KvLimitCode = 'ERR_TOO_LARGE' | 'ERR_BAD_KEY' | 'ERR_BAD_SESSION' | 'ERR_BAD_LIMIT';

/**
 * A request breaks one of the store's limits and is refused before it reaches the log:
 * `ERR_BAD_KEY` (empty or longer than KEY_BYTES_MAX), `ERR_TOO_LARGE` (value above
 * `valueBytesMax`), `ERR_BAD_SESSION` (client id or seq out of range), `ERR_BAD_LIMIT` (a range
 * limit that is not a positive integer).
 */
export class KvLimitError extends FlotillaError {
  override readonly code: KvLimitCode;
  constructor(code: KvLimitCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'KvLimitError';
  }
}

/**
 * A KV snapshot is truncated, corrupt or of an unknown format. `restore` throws it and keeps the
 * state it had; fetch the snapshot again from the leader.
 */
export class KvSnapshotError extends FlotillaError {
  override readonly code = 'ERR_BAD_SNAPSHOT';
  constructor(
    /** The byte offset in the snapshot stream where the problem was found. */
    readonly offset: number,
    detail: string,
  ) {
    super(
      `KV snapshot rejected at byte ${offset}: ${detail}. The store keeps its previous state; ` +
        'fetch the snapshot again (from the leader) and retry.',
    );
    this.name = 'KvSnapshotError';
  }
}
