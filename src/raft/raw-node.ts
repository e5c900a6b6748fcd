import { assert } from './assert.js';
import type { RaftConfig } from './config.js';
import type { ConfChangeTarget, Membership } from './membership.js';
import { type Message, sendableBeforePersist } from './messages.js';
import { Raft } from './raft.js';
import type { ReadState } from './read-only.js';
import {
  type Entry,
  type HardState,
  hardStateEqual,
  type Index,
  type NodeId,
  type Role,
  type SnapshotMeta,
  type Term,
} from './types.js';

/**
 * What the host must do, in this order:
 * 1. send `messages` (the leader's AppendEntries and heartbeats) — in parallel with step 2;
 * 2. install `snapshot` if present (restore the state machine from the bytes that came with it
 *    and make it durable), then persist `entries` (replacing any stored entries from `entries[0].index` on) and `hardState`;
 * 3. send `messagesAfterPersist` (votes, acks: they promise what step 2 made durable);
 * 4. apply `committedEntries` in order;
 * 5. call `advance()`.
 */
export interface Ready {
  readonly role: Role;
  readonly lead: NodeId;
  /** Present only when term, vote or commit changed since the last Ready. */
  readonly hardState: HardState | undefined;
  /**
   * Whether this Ready must be durable before `messagesAfterPersist` leave and entries are
   * applied: it has entries, a snapshot, or a new term or vote. A change of the commit index alone
   * need not be synced (it can be learned again from the leader); the host may write it lazily.
   */
  readonly mustSync: boolean;
  /** A snapshot from the leader to install before `entries`; it replaces the whole log. */
  readonly snapshot: SnapshotMeta | undefined;
  /** Entries to persist BEFORE any message in `messagesAfterPersist` is sent. */
  readonly entries: readonly Entry[];
  /** Messages that may be sent before `entries` and `hardState` are durable (thesis §10.2.1). */
  readonly messages: readonly Message[];
  /** Messages that must wait until `entries` and `hardState` are durable. */
  readonly messagesAfterPersist: readonly Message[];
  /** Committed entries to apply to the state machine, in index order. */
  readonly committedEntries: readonly Entry[];
  /** Reads confirmed by a ReadIndex round: serve each once applied ≥ its index. */
  readonly readStates: readonly ReadState[];
  /** Reads that will never be confirmed here (this node stopped leading): fail or retry them. */
  readonly readsDropped: readonly number[];
}

/**
 * The core as a host drives it (after etcd-io/raft's RawNode): inputs by method, outputs by
 * Ready, one Ready outstanding at a time.
 */
export class RawNode {
  readonly raft: Raft;
  private persistedHardState: HardState;
  /** Role and leader as the host last saw them in a Ready. */
  private lastRole: Role;
  private lastLead: NodeId;
  private pending:
    | { last?: { index: Index; term: Term }; hardState: HardState; applied: Index; snapshot?: Index }
    | undefined;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.persistedHardState = config.storage.hardState();
    this.lastRole = this.raft.role;
    this.lastLead = this.raft.lead;
  }

  tick(): void {
    this.raft.tick();
  }

  step(m: Message): void {
    this.raft.step(m);
  }

  campaign(): void {
    this.raft.campaign();
  }

  /** Changes voters and learners; see Raft.proposeConfChange. */
  proposeConfChange(target: ConfChangeTarget): Index {
    return this.raft.proposeConfChange(target);
  }

  /** The configuration in force: the latest in the log (§4.1). */
  membership(): Membership {
    return this.raft.membership;
  }

  /** The configuration in force at index `i` (a snapshot taken at `i` carries it). */
  membershipAt(i: Index): Membership {
    return this.raft.log.configs.at(i);
  }

  /** Hands leadership to voter `to`; see Raft.transferLeadership. */
  transferLeadership(to: NodeId): void {
    this.raft.transferLeadership(to);
  }

  /** Asks for a linearizable read; see Raft.readIndex. Throws NotLeaderError unless leader. */
  readIndex(request: number): void {
    this.raft.readIndex(request);
  }

  /** How streaming a snapshot to `to` ended, as the host's transport saw it. */
  reportSnapshot(to: NodeId, ok: boolean): void {
    this.raft.reportSnapshot(to, ok);
  }

  /** See Raft.propose: throws NotLeaderError unless this node leads. */
  propose(data: readonly Uint8Array[]): { term: Term; index: Index } {
    return this.raft.propose(data);
  }

  hasReady(): boolean {
    const r = this.raft;
    return (
      r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      r.readsDropped.length > 0 ||
      r.role !== this.lastRole ||
      r.lead !== this.lastLead ||
      r.log.unstableEntries().length > 0 ||
      r.log.pendingSnapshot() !== undefined ||
      r.log.applied < r.log.commit ||
      !hardStateEqual(r.hardState(), this.persistedHardState)
    );
  }

  ready(): Ready {
    assert(this.pending === undefined, 'raw-node: ready() called again before advance()');
    const r = this.raft;
    const hs = r.hardState();
    const snapshot = r.log.pendingSnapshot();
    const entries = r.log.unstableEntries().slice();
    const committedEntries = r.log.nextCommitted(r.config.committedBytesMax);
    const messages: Message[] = [];
    const messagesAfterPersist: Message[] = [];
    for (const m of r.msgs) (sendableBeforePersist(m) ? messages : messagesAfterPersist).push(m);
    r.msgs = [];
    r.readOnly.seal();
    const { readStates, readsDropped } = r;
    r.readStates = [];
    r.readsDropped = [];
    this.lastRole = r.role;
    this.lastLead = r.lead;
    const lastEntry = entries[entries.length - 1];
    const lastCommitted = committedEntries[committedEntries.length - 1];
    this.pending = {
      hardState: hs,
      applied: lastCommitted === undefined ? r.log.applied : lastCommitted.index,
      ...(lastEntry === undefined ? {} : { last: { index: lastEntry.index, term: lastEntry.term } }),
      ...(snapshot === undefined ? {} : { snapshot: snapshot.index }),
    };
    return {
      role: r.role,
      lead: r.lead,
      hardState: hardStateEqual(hs, this.persistedHardState) ? undefined : hs,
      mustSync:
        entries.length > 0 ||
        snapshot !== undefined ||
        hs.term !== this.persistedHardState.term ||
        hs.vote !== this.persistedHardState.vote,
      snapshot,
      entries,
      messages,
      messagesAfterPersist,
      committedEntries,
      readStates,
      readsDropped,
    };
  }

  /** The host finished the last Ready: its entries and hard state are durable, its entries applied. */
  advance(): void {
    const p = this.pending;
    assert(p !== undefined, 'raw-node: advance() without a ready()');
    this.pending = undefined;
    this.persistedHardState = p.hardState;
    if (p.snapshot !== undefined) this.raft.log.snapshotInstalled(p.snapshot);
    if (p.last !== undefined) this.raft.persisted(p.last.index, p.last.term);
    this.raft.log.appliedTo(p.applied);
  }

  /** A read-only view for tests, tools and dashboards. */
  status(): Status {
    const r = this.raft;
    const progress: Record<NodeId, { match: number; next: number; state: string }> = {};
    for (const [id, pr] of r.progress) progress[id] = { match: pr.match, next: pr.next, state: pr.state };
    return {
      id: r.id,
      role: r.role,
      term: r.term,
      vote: r.vote,
      lead: r.lead,
      commit: r.log.commit,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      votes: Object.fromEntries(r.votes),
      progress,
    };
  }
}

export interface Status {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly vote: NodeId;
  readonly lead: NodeId;
  readonly commit: Index;
  readonly applied: Index;
  readonly lastIndex: Index;
  /** The tally of the current or last won election, own vote included. */
  readonly votes: Record<NodeId, boolean>;
  readonly progress: Record<NodeId, { match: number; next: number; state: string }>;
}
