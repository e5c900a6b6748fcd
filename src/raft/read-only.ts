import { assert } from './assert.js';
import type { Index, NodeId } from './types.js';

/** A read the leader has confirmed (thesis §6.4): serve it once applied ≥ `index`. */
export interface ReadState {
  readonly index: Index;
  /** The host's ids of the reads this confirmation releases. */
  readonly requests: readonly number[];
}

interface Round {
  /** Carried by the round's heartbeats and echoed by the replies. */
  readonly context: number;
  readonly index: Index;
  readonly requests: number[];
  readonly acks: Set<NodeId>;
}

/**
 * ReadIndex rounds on a leader (thesis §6.4). A round records the commit index, goes out with
 * one heartbeat to every follower, and is confirmed once a majority (the leader included) has
 * answered that round or a later one: a reply to a later round proves the follower still
 * accepted this leader after the earlier round began. Reads that arrive before a round's
 * heartbeats leave share it.
 */
export class ReadOnly {
  private rounds: Round[] = [];
  private open: Round | undefined;
  private nextContext = 1;

  /**
   * Adds a read; returns the context of a NEW round whose heartbeats must now be sent, or 0
   * when the read joined a round that has not gone out yet.
   */
  add(request: number, commit: Index, self: NodeId): number {
    if (this.open !== undefined && this.open.index === commit) {
      this.open.requests.push(request);
      return 0;
    }
    const round: Round = {
      context: this.nextContext++,
      index: commit,
      requests: [request],
      acks: new Set([self]),
    };
    this.rounds.push(round);
    this.open = round;
    return round.context;
  }

  /** The open round's heartbeats have been handed to the host: later reads need a new round. */
  seal(): void {
    this.open = undefined;
  }

  /** `from` answered the heartbeat of round `context`. Returns the reads now confirmed, oldest first. */
  ack(from: NodeId, context: number, quorum: number): ReadState[] {
    for (const r of this.rounds) {
      if (r.context > context) break;
      r.acks.add(from);
    }
    return this.release(quorum);
  }

  /** Releases confirmed rounds from the front (a one-node cluster's rounds at once). */
  release(quorum: number): ReadState[] {
    let k = 0;
    while (k < this.rounds.length && this.rounds[k]!.acks.size >= quorum) k++;
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

  /** The context of the newest round not yet confirmed (0 when none). */
  newestContext(): number {
    return this.rounds[this.rounds.length - 1]?.context ?? 0;
  }

  get size(): number {
    return this.rounds.length;
  }
}
