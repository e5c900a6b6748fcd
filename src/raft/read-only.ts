import { assert } from './assert.js';
import type { Index, NodeId } from './types.js';

/** A read the leader has confirmed (thesis §6.4): serve it once applied ≥ `index`. */
export interface ReadState {
  readonly index: Index;
  /** The host's ids of the reads this confirmation releases. */
  readonly requests: readonly number[];
}

interface Round {
  /** The heartbeat round that carries it (0 until its heartbeats are broadcast). */
  context: number;
  readonly index: Index;
  readonly requests: number[];
  readonly acks: Set<NodeId>;
}

/**
 * ReadIndex rounds on a leader (thesis §6.4). A round records the commit index, rides on the
 * next heartbeat broadcast, and is confirmed once a majority (the leader included) has answered
 * that heartbeat round or a later one: a reply to a later round proves the follower still
 * accepted this leader after the earlier round went out. Reads that arrive before a round's
 * heartbeats leave share it; the leader keeps one round in flight at a time, so under load every
 * read that arrives during a round trip shares the next round.
 */
export class ReadOnly {
  private rounds: Round[] = [];
  private open: Round | undefined;

  /**
   * Adds a read; returns true when it opened a NEW round whose heartbeats must now be sent, false
   * when it joined a round whose heartbeats have not left yet.
   */
  add(request: number, commit: Index, self: NodeId): boolean {
    if (this.open !== undefined && this.open.index === commit) {
      this.open.requests.push(request);
      return false;
    }
    const round: Round = { context: 0, index: commit, requests: [request], acks: new Set([self]) };
    this.rounds.push(round);
    this.open = round;
    return true;
  }

  /** Heartbeats of round `context` are being broadcast: rounds not yet sent ride on them. */
  attach(context: number): void {
    for (let k = this.rounds.length - 1; k >= 0 && this.rounds[k]!.context === 0; k--) {
      this.rounds[k]!.context = context;
    }
  }

  /**
   * A Ready is being handed to the host. If the open round's heartbeats went with it, later reads
   * need a new round; a round still waiting for its broadcast keeps taking reads.
   */
  seal(): void {
    if (this.open !== undefined && this.open.context !== 0) this.open = undefined;
  }

  /** A round's heartbeats are out and not yet answered by a quorum. */
  inFlight(): boolean {
    return this.rounds.length > 0 && this.rounds[0]!.context !== 0;
  }

  /** Some round waits for a heartbeat broadcast to carry it. */
  unsent(): boolean {
    return this.rounds.length > 0 && this.rounds[this.rounds.length - 1]!.context === 0;
  }

  /** `from` answered heartbeat round `context`. Returns the reads now confirmed, oldest first. */
  ack(from: NodeId, context: number, isQuorum: (acks: ReadonlySet<NodeId>) => boolean): ReadState[] {
    for (const r of this.rounds) {
      if (r.context === 0 || r.context > context) break;
      r.acks.add(from);
    }
    return this.release(isQuorum);
  }

  /** Releases confirmed rounds from the front (a one-node cluster's rounds at once). */
  release(isQuorum: (acks: ReadonlySet<NodeId>) => boolean): ReadState[] {
    let k = 0;
    while (k < this.rounds.length && isQuorum(this.rounds[k]!.acks)) k++;
    if (k === 0) return [];
    const done = this.rounds.splice(0, k);
    if (this.open !== undefined && !this.rounds.includes(this.open)) this.open = undefined;
    let last = 0;
    return done.map((r) => {
      assert(r.index >= last, `read-only: round indexes go back from ${last} to ${r.index}`);
      last = r.index;
      return { index: r.index, requests: r.requests };
    });
  }

  /** Drops every round (leadership lost); returns the ids of the reads that will never be confirmed. */
  reset(): number[] {
    const dropped = this.rounds.flatMap((r) => r.requests);
    this.rounds = [];
    this.open = undefined;
    return dropped;
  }

  get size(): number {
    return this.rounds.length;
  }
}
