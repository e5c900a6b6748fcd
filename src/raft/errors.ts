import type { NodeId } from './types.js';

/** The base of every error a Flotilla user can meet; `code` is stable across versions. */
export class FlotillaError extends Error {
  readonly code: string = 'ERR_FLOTILLA';
}

/** A proposal or read reached a node that is not the leader; retry at `leaderHint` when known. */
export class NotLeaderError extends FlotillaError {
  override readonly code = 'ERR_NOT_LEADER';
  constructor(readonly leaderHint: NodeId | undefined) {
    super(
      leaderHint === undefined
        ? 'this node is not the leader and knows of none yet; retry after an election'
        : `this node is not the leader; send the request to node ${leaderHint}`,
    );
    this.name = 'NotLeaderError';
  }
}

/** Leadership is being handed to another node: proposals wait until it completes. */
export class TransferInProgressError extends FlotillaError {
  override readonly code = 'ERR_TRANSFER_IN_PROGRESS';
  constructor(readonly to: string) {
    super(`leadership is being transferred to node ${to}; the command was not proposed — retry shortly`);
    this.name = 'TransferInProgressError';
  }
}

/** A node id that is not a voter (or, with `what`, not a member) of the configuration. */
export class UnknownMemberError extends FlotillaError {
  override readonly code = 'ERR_UNKNOWN_MEMBER';
  constructor(id: string, what = 'a voter') {
    super(`node ${id} is not ${what} of this cluster`);
    this.name = 'UnknownMemberError';
  }
}

/**
 * A configuration change was refused: `ERR_CONF_CHANGE_IN_PROGRESS` (one is already in flight, or
 * the leader has not yet committed an entry of its term — retry shortly), `ERR_BAD_CONF_CHANGE`
 * (the target is not a valid configuration; the message says why), and from the node layer
 * `ERR_LEARNER_BEHIND` (a learner too far behind to promote — retry once it caught up) and
 * `ERR_UNSAFE_CONF_CHANGE` (the change would leave no quorum of reachable voters).
 */
export class ConfChangeError extends FlotillaError {
  constructor(
    override readonly code:
      | 'ERR_CONF_CHANGE_IN_PROGRESS'
      | 'ERR_BAD_CONF_CHANGE'
      | 'ERR_LEARNER_BEHIND'
      | 'ERR_UNSAFE_CONF_CHANGE',
    message: string,
  ) {
    super(message);
    this.name = 'ConfChangeError';
  }
}

/** `propose` was called with no entries. */
export class EmptyProposalError extends FlotillaError {
  override readonly code = 'ERR_EMPTY_PROPOSAL';
  constructor() {
    super('propose needs at least one entry');
    this.name = 'EmptyProposalError';
  }
}

/** A configuration value is out of range; the message names the field and what it must be. */
export class ConfigError extends FlotillaError {
  override readonly code = 'ERR_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
