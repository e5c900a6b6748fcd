import { assert } from './assert.js';
import { type Index, index } from './types.js';

/** How the leader replicates to one follower. */
export enum ProgressState {
  /** Unknown how far the follower matches: one AppendEntries per heartbeat until one succeeds. */
  Probe = 'probe',
  /** The follower is known to match up to `match`: stream entries, up to `inflightMax` messages ahead. */
  Replicate = 'replicate',
  /** The follower needs a snapshot: nothing else is sent until it reports the snapshot installed. */
  Snapshot = 'snapshot',
}

/**
 * The last indexes of AppendEntries messages in flight to one follower, oldest first, in a ring
 * bounded by `inflightMax`. When full, the leader stops sending until acks free a slot.
 */
export class Inflights {
  private readonly buffer: Float64Array;
  private start = 0;
  count = 0;

  constructor(readonly max: number) {
    assert(max >= 1, `inflights: max ${max} >= 1`);
    this.buffer = new Float64Array(max);
  }

  full(): boolean {
    return this.count === this.max;
  }

  add(last: Index): void {
    assert(!this.full(), 'inflights: add while full');
    this.buffer[(this.start + this.count) % this.max] = last;
    this.count++;
  }

  /** Frees every message whose last index is ≤ `to` (the follower acked through `to`). */
  freeTo(to: Index): void {
    while (this.count > 0 && this.buffer[this.start]! <= to) {
      this.start = (this.start + 1) % this.max;
      this.count--;
    }
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}

/** The leader's view of one peer's log (Figure 2: nextIndex, matchIndex) and how to reach it. */
export class Progress {
  /** Highest index known to be replicated on the peer. */
  match: Index = index(0);
  /** Index of the next entry to send. */
  next: Index;
  state = ProgressState.Probe;
  /** In Probe, one AppendEntries is outstanding; cleared by a heartbeat reply to probe again. */
  probeSent = false;
  /** Heard from the peer since the last CheckQuorum round. */
  recentActive = false;
  /** recentActive as it stood at the last CheckQuorum (so "active" never flickers at a reset). */
  activeAtLastCheck = false;
  /** Heard from within the last one or two election timeouts. */
  isActive(): boolean {
    return this.recentActive || this.activeAtLastCheck;
  }

  /** In Snapshot state: the index of the snapshot being sent. */
  pendingSnapshot: Index = index(0);
  /** In Snapshot state: heartbeat replies seen since the snapshot was sent (to give up on a lost one). */
  snapshotHeartbeats = 0;
  /** The newest heartbeat round the peer answered (ReadIndex and leases). */
  ackedRound = 0;
  /** The highest commit index sent to the peer in an AppendEntries. */
  sentCommit: Index = index(0);
  /** `match` when the previous heartbeat reply arrived. */
  matchAtHeartbeat: Index = index(0);
  /** Whether AppendEntries were in flight when the previous heartbeat reply arrived. */
  inflightAtHeartbeat = false;
  readonly inflights: Inflights;

  constructor(next: Index, inflightMax: number) {
    this.next = next;
    this.inflights = new Inflights(inflightMax);
  }

  becomeProbe(): void {
    this.state = ProgressState.Probe;
    this.probeSent = false;
    this.inflights.reset();
    this.next = index(this.match + 1);
  }

  becomeReplicate(): void {
    this.state = ProgressState.Replicate;
    this.probeSent = false;
    this.inflights.reset();
    this.next = index(this.match + 1);
  }

  becomeSnapshot(snapshotIndex: Index): void {
    this.state = ProgressState.Snapshot;
    this.probeSent = false;
    this.inflights.reset();
    this.pendingSnapshot = snapshotIndex;
    this.snapshotHeartbeats = 0;
  }

  /** No AppendEntries may be sent now: a probe is outstanding or the window is full. */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }

  /** An ack through `i` arrived. Returns whether it told us something new. */
  maybeUpdate(i: Index): boolean {
    let updated = false;
    if (i > this.match) {
      this.match = i;
      this.probeSent = false;
      updated = true;
    }
    if (this.next < i + 1) this.next = index(i + 1);
    return updated;
  }

  /** An AppendEntries of `count` entries ending at `last` was sent. */
  sentEntries(last: Index, count: number): void {
    if (this.state === ProgressState.Replicate) {
      if (count === 0) return;
      this.next = index(last + 1);
      this.inflights.add(last);
    } else {
      this.probeSent = true;
    }
  }

  /**
   * The peer rejected an AppendEntries at `rejected`; `next` is where the leader's conflict search
   * says to try. Returns false when the rejection is stale (answers an older message).
   */
  maybeDecrease(rejected: Index, next: Index): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.becomeProbe();
    } else if (this.state === ProgressState.Snapshot) {
      return false;
    } else if (rejected !== this.next - 1) {
      return false;
    }
    this.next = index(Math.max(this.match + 1, Math.min(next, rejected)));
    this.probeSent = false;
    assert(this.match < this.next, `progress: match ${this.match} < next ${this.next}`);
    return true;
  }
}
