import { FlotillaError } from '../raft/errors.js';

/** A history that cannot be read as one; the message names the source, the 1-based line and the fix. */
export class HistoryParseError extends FlotillaError {
  override readonly code = 'ERR_HISTORY_PARSE';
  constructor(
    readonly source: string,
    readonly line: number,
    detail: string,
  ) {
    super(`${source}:${line}: ${detail}`);
    this.name = 'HistoryParseError';
  }
}

/** An operation the chosen model does not define, such as an `append` checked against the KV model. */
export class UnsupportedOperationError extends FlotillaError {
  override readonly code = 'ERR_CHECK_UNSUPPORTED_OP';
  constructor(
    readonly model: string,
    readonly line: number,
    detail: string,
  ) {
    super(`line ${line}: ${detail}; pick a model that defines it (--model kv|register|append)`);
    this.name = 'UnsupportedOperationError';
  }
}
