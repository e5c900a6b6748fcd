import { FlotillaError } from '../raft/errors.js';

/** The proposal queue is full: the command was never proposed. Retry after a short wait. */
export class OverloadedError extends FlotillaError {
  override readonly code = 'ERR_OVERLOADED';
  constructor(
    readonly queued: number,
    message = `the node has ${queued} proposals waiting; the command was not proposed — retry shortly`,
  ) {
    super(message);
    this.name = 'OverloadedError';
  }
}

/** No leader is known: the command was never proposed. Retry after an election. */
export class NoLeaderError extends FlotillaError {
  override readonly code = 'ERR_NO_LEADER';
  constructor() {
    super('no leader is known right now; the command was not proposed — retry after an election');
    this.name = 'NoLeaderError';
  }
}

/**
 * The entry that held the command was replaced by another leader's entry: it was never applied
 * and never will be. Safe to retry.
 */
export class ProposalDroppedError extends FlotillaError {
  override readonly code = 'ERR_PROPOSAL_DROPPED';
  constructor(index: number) {
    super(
      `the entry at index ${index} that held the command was overwritten by a new leader; it was not applied`,
    );
    this.name = 'ProposalDroppedError';
  }
}

/** The outcome is unknown: the command may still be applied. Retry with the same idempotency key. */
export class OutcomeUnknownError extends FlotillaError {
  override readonly code = 'ERR_TIMEOUT';
  constructor(reason: string) {
    super(`${reason}; the command may or may not be applied — retry with the same idempotency key`);
    this.name = 'OutcomeUnknownError';
  }
}

/** The node was stopped. */
export class StoppedError extends FlotillaError {
  override readonly code = 'ERR_STOPPED';
  constructor() {
    super('the node is stopped');
    this.name = 'StoppedError';
  }
}
