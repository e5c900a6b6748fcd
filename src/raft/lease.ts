import type { Message } from './messages.js';
import type { Raft } from './raft.js';
import { Role } from './types.js';

/**
 * How long a leader lease lasts on the leader's monotonic clock, in ms (thesis §6.4.1). A follower
 * that heard from the leader grants no vote for `electionTicks` of its ticks — but its first tick
 * may come right after the heartbeat, so only (electionTicks − 1) tick intervals are sure to pass;
 * and its clock may run faster than the leader's by up to `clockDriftBound` (a bound on the
 * relative rate of any two clocks).
 */
export function leaseDurationMs(o: {
  electionTicks: number;
  tickMs: number;
  clockDriftBound: number;
}): number {
  return (o.electionTicks - 1) * o.tickMs * (1 - o.clockDriftBound);
}

/**
 * The host's half of a leader lease: when each heartbeat round of the current term was sent, on
 * the host's clock. The core says which round a majority answered (`raft.leaseRound`); the lease
 * runs from that round's SEND time. Pure bookkeeping: the host passes its clock readings in.
 */
export class LeaseClock {
  private readonly sentAt = new Map<number, number>();
  private term = -1;

  /** The host hands `messages` to the network at `clock`. */
  noteSent(messages: readonly Message[], raft: Raft, clock: number): void {
    let round = 0;
    for (const m of messages) if (m.type === 'heartbeat' && m.context > round) round = m.context;
    if (round === 0) return;
    if (this.term !== raft.term) {
      this.sentAt.clear();
      this.term = raft.term;
    }
    this.sentAt.set(round, clock);
    for (const k of this.sentAt.keys()) if (k < raft.leaseRound) this.sentAt.delete(k);
  }

  /**
   * The clock reading at which the lease ends, or undefined when there is none: not leading, no
   * entry of this term committed yet, no round answered by a majority, or the lease given up for a
   * leadership transfer.
   */
  expiry(raft: Raft, leaseMs: number): number | undefined {
    if (raft.role !== Role.Leader || raft.log.term(raft.log.commit) !== raft.term) return undefined;
    const sent = this.term === raft.term ? this.sentAt.get(raft.leaseRound) : undefined;
    return sent === undefined ? undefined : sent + leaseMs;
  }
}
