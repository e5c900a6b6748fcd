import { isJoint, isVoter, type Membership, members } from '../raft/membership.js';
import type { RawNode } from '../raft/raw-node.js';
import { type Index, type NodeId, Role, type Term } from '../raft/types.js';
import { OutcomeUnknownError, ProposalDroppedError } from './errors.js';
import { type MembershipChange, type MembersView, membersView, planChange } from './membership-change.js';
import type { NodeLogger } from './raft-node.js';
import type { NodeTransport } from './transport.js';

/** What the membership side of a RaftNode needs from it. */
export interface MembershipHostOptions {
  readonly id: NodeId;
  readonly core: RawNode;
  readonly transport: NodeTransport;
  readonly logger: NodeLogger;
  /** A learner is promoted only when at most this many entries behind the leader. */
  readonly promoteLagMax: number;
  /** A change not committed within this long is answered with an unknown outcome. */
  readonly changeTimeoutMs: number;
  /** The start-up peer addresses the transport was given already. */
  readonly addresses: Readonly<Record<NodeId, string>> | undefined;
  /** Asks the node to run its loop (the core has something to do). */
  schedule(): void;
}

interface ChangeWaiter {
  readonly at: Index;
  readonly term: Term;
  readonly resolve: (v: MembersView) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * The membership side of a RaftNode (thesis §4; docs/membership.md): the configuration as the API
 * shows it, changes proposed on the leader and answered once committed, the transport's peers kept
 * in step with the configuration, and a word when this node is removed.
 */
export class MembershipHost {
  private readonly waiters = new Set<ChangeWaiter>();
  /** Peer addresses this node has given its transport, by id. */
  private readonly peerAddresses = new Map<NodeId, string>();
  private peersSyncedFor: Membership | undefined;
  private syncedAsSettledLeader = false;
  /** This node has been listed by a configuration it knows (to say once when it is removed). */
  private wasMember = false;

  constructor(private readonly o: MembershipHostOptions) {
    for (const [id, a] of Object.entries(o.addresses ?? {})) this.peerAddresses.set(id, a);
  }

  /**
   * The latest configuration this node knows (it takes effect when appended, §4.1). On the
   * leader each member's `match` says how far its log is known to reach.
   */
  members(): MembersView {
    const r = this.o.core.raft;
    const leader = r.role === Role.Leader;
    return membersView(this.o.core.membership(), {
      match: (id) => (!leader ? undefined : id === this.o.id ? r.log.lastIndex() : r.progress.get(id)?.match),
      active: (id) => (!leader ? undefined : id === this.o.id || r.progress.get(id)?.isActive() === true),
    });
  }

  /** On the leader: checks `change` (planChange), proposes it and resolves once it has committed. */
  propose(change: MembershipChange): Promise<MembersView> {
    const core = this.o.core;
    const r = core.raft;
    const target = planChange(
      core.membership(),
      change,
      {
        self: this.o.id,
        lastIndex: r.log.lastIndex(),
        changeInFlight:
          r.log.configs.latestIndex() > r.log.commit ||
          isJoint(core.membership()) ||
          r.log.term(r.log.commit) !== r.term,
        active: (id) => r.progress.get(id)?.isActive() === true,
        match: (id) => r.progress.get(id)?.match ?? 0,
      },
      this.o.promoteLagMax,
    );
    const at = core.proposeConfChange(target);
    this.o.logger.info(`configuration change ${JSON.stringify(change)} proposed at index ${at}`);
    this.o.schedule();
    return new Promise<MembersView>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new OutcomeUnknownError(`the configuration change at index ${at} has not committed yet`));
      }, this.o.changeTimeoutMs);
      const waiter: ChangeWaiter = { at, term: r.term, resolve, reject, timer };
      this.waiters.add(waiter);
    });
  }

  /** Before a Ready is handled: a configuration it appends may name a member its messages go to. */
  beforeReady(): void {
    this.syncPeers();
  }

  /** After a Ready is handled (commit may have moved). */
  afterReady(): void {
    this.syncPeers();
    this.settle();
    this.noteRemoval();
  }

  /** The node stops or fails: changes still waiting get `err` (they may yet commit). */
  failAll(err: Error): void {
    for (const timer of this.removals.values()) clearTimeout(timer);
    this.removals.clear();
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiters.clear();
  }

  /** A change is done when its entry and every configuration after it (C(new)) have committed. */
  private settle(): void {
    if (this.waiters.size === 0) return;
    const r = this.o.core.raft;
    const settled = r.log.configs.latestIndex() <= r.log.commit && !isJoint(this.o.core.membership());
    for (const w of this.waiters) {
      let outcome: 'done' | 'dropped' | 'unknown' | undefined;
      if (r.log.commit >= w.at) {
        const t = r.log.firstIndex() <= w.at ? r.log.term(w.at) : undefined;
        if (t !== undefined && t !== w.term) outcome = 'dropped';
        else if (settled) outcome = 'done';
      } else if (r.term !== w.term) {
        outcome = 'unknown';
      }
      if (outcome === undefined) continue;
      this.waiters.delete(w);
      clearTimeout(w.timer);
      if (outcome === 'done') w.resolve(this.members());
      else if (outcome === 'dropped') w.reject(new ProposalDroppedError(w.at));
      else w.reject(new OutcomeUnknownError('leadership changed before the configuration change committed'));
    }
  }

  /**
   * Keeps the transport's peers in step with the configuration: a member's address is added (or
   * updated) as soon as a configuration naming it is appended. Removed members are dropped only by
   * the leader, an election timeout after the change has committed (its last messages to them
   * leave first): a follower catching up replays old configurations, and dropping a peer it still
   * needs (its leader) could cut it off.
   */
  private syncPeers(): void {
    const m = this.o.core.membership();
    const r = this.o.core.raft;
    // Nothing to do unless the configuration, this node's role or the configuration's commit
    // changed since the last call: this runs twice per Ready.
    const leaderSettled = r.role === Role.Leader && r.log.configs.latestIndex() <= r.log.commit;
    if (m === this.peersSyncedFor && leaderSettled === this.syncedAsSettledLeader) return;
    this.peersSyncedFor = m;
    this.syncedAsSettledLeader = leaderSettled;
    const t = this.o.transport;
    const wanted = new Set(members(m));
    for (const [id, address] of Object.entries(m.addresses ?? {})) {
      if (id === this.o.id || !wanted.has(id) || this.peerAddresses.get(id) === address) continue;
      this.peerAddresses.set(id, address);
      try {
        t.setPeer?.(id, address);
      } catch (err) {
        // An address the transport cannot use must not stop the node; the operator can fix it.
        this.o.logger.warn(
          `peer ${id}: cannot use address ${JSON.stringify(address)}: ${(err as Error).message}`,
        );
      }
    }
    if (!leaderSettled) return;
    for (const id of this.peerAddresses.keys()) {
      if (wanted.has(id) || this.removals.has(id)) continue;
      // Not at once: the leader's last word to it (the commit index of the change that drops it)
      // is still queued on that connection.
      const timer = setTimeout(() => {
        this.removals.delete(id);
        if (members(this.o.core.membership()).includes(id)) return; // added back meanwhile
        this.peerAddresses.delete(id);
        t.removePeer?.(id);
        this.o.logger.info(`node ${id} left the configuration; its peer connection is closed`);
      }, this.o.changeTimeoutMs / 10);
      this.removals.set(id, timer);
    }
  }

  /** Peers to be dropped from the transport once the leader's last messages to them have left. */
  private readonly removals = new Map<NodeId, NodeJS.Timeout>();

  /**
   * Says once when a committed configuration no longer lists this node. A removed node is
   * harmless (it neither campaigns nor counts), but its operator should stop it: its peers refuse
   * its connections from now on.
   */
  private noteRemoval(): void {
    const m = this.o.core.membership();
    if (isVoter(m, this.o.id) || m.learners.includes(this.o.id)) {
      this.wasMember = true;
      return;
    }
    const r = this.o.core.raft;
    if (!this.wasMember || r.log.configs.latestIndex() > r.log.commit) return;
    this.wasMember = false;
    this.o.logger.warn(
      `node ${this.o.id} was removed from the cluster (the configuration at index ${r.log.configs.latestIndex()} has committed): stop this process`,
    );
  }
}
