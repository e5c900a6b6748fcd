/**
 * Where a RaftNode reports the events that its state at a given moment cannot show. These are counts
 * only: a node calls each method at most once per proposal, confirmed read round, applied
 * configuration entry or Ready, and never builds anything to call it. Values that mirror state
 * (term, commit index, leader, members) are not reported here; a metrics exporter reads them from
 * `status()`, `members()` and `pendingProposals()` when it is scraped.
 *
 * Optional: a node built without one checks `undefined` where it would have called it, nothing more.
 * The implementation must not throw and must not call back into the node.
 */
export interface NodeMetrics {
  /** A proposal made through this node's `propose()` (here or forwarded) was applied. */
  proposalCommitted(): void;
  /**
   * A proposal made through this node's `propose()` failed; `code` is the error's stable code
   * (`ERR_NO_LEADER`, `ERR_PROPOSAL_DROPPED`, …), or `ERR_UNKNOWN` for an error without one.
   */
  proposalFailed(code: string): void;
  /** This node came to know a leader (itself included) after knowing another one, or none. */
  leaderChanged(): void;
  /** A configuration entry was applied here (a joint change applies two). */
  confChangeApplied(): void;
  /** The leader confirmed a ReadIndex round (one heartbeat round) carrying `requests` reads. */
  readIndexConfirmed(requests: number): void;
  /** This node wrote a snapshot of its state machine and compacted its log. */
  snapshotTaken(): void;
  /** This node installed a snapshot sent by its leader. */
  snapshotInstalled(): void;
}

/** The stable code of a failure, for a bounded label: an `ERR_*` code, or `ERR_UNKNOWN`. */
export function failureCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^ERR_[A-Z0-9_]{1,48}$/.test(code) ? code : 'ERR_UNKNOWN';
}
