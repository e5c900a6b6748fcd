import { FlotillaError } from '../raft/errors.js';

/** An error with its HTTP status; the body is `{code, message, ...extra}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/**
 * Maps what a request met to its HTTP answer. The status says whether a write may have been
 * applied: 503 never proposed (retry), 504 unknown (retry with the same Idempotency-Key).
 */
export function httpErrorOf(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (!(err instanceof FlotillaError)) {
    return new HttpError(500, 'ERR_INTERNAL', `internal error: ${(err as Error)?.message ?? String(err)}`);
  }
  switch (err.code) {
    case 'ERR_NOT_LEADER':
    case 'ERR_NO_LEADER': {
      const hint = (err as { leaderHint?: string }).leaderHint;
      const extra = hint === undefined ? {} : { leader: Number(hint) };
      return new HttpError(503, 'ERR_NO_LEADER', err.message, extra, 1);
    }
    case 'ERR_OVERLOADED':
      return new HttpError(503, 'ERR_OVERLOADED', err.message, {}, 1);
    case 'ERR_TRANSFER_IN_PROGRESS':
      return new HttpError(503, 'ERR_TRANSFER_IN_PROGRESS', err.message, {}, 1);
    case 'ERR_UNKNOWN_MEMBER':
      return new HttpError(400, 'ERR_UNKNOWN_MEMBER', err.message);
    case 'ERR_PROPOSAL_DROPPED':
      return new HttpError(503, 'ERR_PROPOSAL_DROPPED', err.message, {}, 1);
    case 'ERR_READ_UNAVAILABLE':
      return new HttpError(503, 'ERR_READ_UNAVAILABLE', err.message, {}, 1);
    case 'ERR_TIMEOUT':
      return new HttpError(504, 'ERR_TIMEOUT', err.message);
    case 'ERR_STOPPED':
      return new HttpError(503, 'ERR_STOPPED', err.message, {}, 1);
    case 'ERR_TOO_LARGE':
      return new HttpError(413, 'ERR_TOO_LARGE', err.message);
    case 'ERR_BAD_KEY':
    case 'ERR_BAD_SESSION':
    case 'ERR_BAD_LIMIT':
    case 'ERR_BAD_COMMAND':
      return new HttpError(400, err.code, err.message);
    default:
      return new HttpError(500, err.code, err.message);
  }
}
