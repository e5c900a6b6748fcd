import { randomInt } from 'node:crypto';
import { type FlotillaError, NotLeaderError, TransferInProgressError } from '../raft/errors.js';
import { LeaseClock, leaseDurationMs } from '../raft/lease.js';
import { isVoter, snapshotMetaOf } from '../raft/membership.js';
import type { Message } from '../raft/messages.js';
import { RawNode, type Ready } from '../raft/raw-node.js';
import {
  type Entry,
  EntryKind,
  type Index,
  index,
  NONE,
  type NodeId,
  type Rng,
  Role,
  type SnapshotMeta,
  type Term,
} from '../raft/types.js';
import type { NodeStorage } from '../storage/node-storage.js';
import { FsyncFailedError } from '../storage/wal/errors.js';
import {
  NoLeaderError,
  OutcomeUnknownError,
  OverloadedError,
  ProposalDroppedError,
  StoppedError,
} from './errors.js';
import {
  decodeForwardReply,
  encodeForwardReply,
  FORWARD_CONF_CHANGE,
  FORWARD_LOG_READ,
  FORWARD_PROPOSE,
  FORWARD_READ_INDEX,
  FORWARD_TRANSFER,
  idCodec,
  indexCodec,
  membersCodec,
  type ResultCodec,
  withKind,
} from './forward.js';
import type { MembershipChange, MembersView } from './membership-change.js';
import { MembershipHost } from './membership-host.js';
import { failureCode, type NodeMetrics } from './node-metrics.js';
import type { StateMachine } from './state-machine.js';
import type { NodeTransport } from './transport.js';

/** Where a node's logs go; defaults to nothing. */
export interface NodeLogger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** How a RaftNode is set up. Durations are in milliseconds of wall-clock time. */
export interface RaftNodeOptions<R> {
  readonly id: NodeId;
  /**
   * The voters of a new cluster, this node included; ignored once the data folder holds a
   * configuration. Empty for a node joining a running cluster (see docs/membership.md).
   */
  readonly voters: readonly NodeId[];
  /** The start-up voters' peer addresses, recorded in the first configuration change. */
  readonly addresses?: Readonly<Record<NodeId, string>>;
  readonly stateMachine: StateMachine<R>;
  /** How results travel from the leader back to a follower that forwarded a command. */
  readonly resultCodec: ResultCodec<R>;
  readonly storage: NodeStorage;
  readonly transport: NodeTransport;
  /** One tick of the core; the election timeout is electionTicks of these (default 100 ms). */
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  /** Proposals waiting to be proposed or applied; beyond this, callers get OverloadedError. */
  readonly proposalQueueMax?: number;
  /** Snapshot the state machine after this many applied entries (0: never)... */
  readonly snapshotEntries?: number;
  /** ...or after this many bytes of applied commands, whichever comes first (0: never). */
  readonly snapshotBytes?: number;
  /** Entries kept behind a snapshot so that slow followers need not be sent one. */
  readonly retainEntries?: number;
  /** How long a follower waits for the leader to answer a forwarded command. */
  readonly forwardTimeoutMs?: number;
  /** A learner is promoted only when at most this many entries behind the leader (default 1000). */
  readonly promoteLagMax?: number;
  /**
   * Serve `leaseRead()` from a leader lease (thesis §6.4.1): without a round trip while the lease
   * holds. Assumes clocks advance at rates within `clockDriftBound` of each other (see docs/reads.md).
   */
  readonly leaseReads?: boolean;
  /** The largest relative clock-rate difference between nodes the lease allows for (default 0.1). */
  readonly clockDriftBound?: number;
  /** The monotonic clock leases are measured on, in ms (default performance.now; tests inject one). */
  readonly clock?: () => number;
  readonly rng?: Rng;
  readonly logger?: NodeLogger;
  /** Where events are counted for a metrics exporter (default: nowhere, at no cost). */
  readonly metrics?: NodeMetrics;
  /**
   * Told once, with the error, when the node fails for good (a failed fsync above all; see
   * `failure()`): it has stopped ticking and applying, and its host should stop it and exit.
   */
  readonly onFailure?: (err: Error) => void;
}

/** A snapshot of what a node knows, for status endpoints and tests. */
export interface NodeStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly leader: NodeId | undefined;
  readonly commitIndex: Index;
  readonly appliedIndex: Index;
  readonly voters: readonly NodeId[];
}

interface Waiting<R> {
  readonly term: Term;
  readonly resolve: (r: R) => void;
  readonly reject: (e: Error) => void;
}

interface Queued<R> {
  readonly command: Uint8Array;
  readonly resolve: (r: R) => void;
  readonly reject: (e: Error) => void;
}

const quietLogger: NodeLogger = { info() {}, warn() {}, error() {} };

/**
 * The host loop that drives a Raft core over real time, a real disk and a real network:
 * ticks from a timer; proposals from one event-loop turn batched into one Ready; each Ready
 * handled in DESIGN.md's order (send the leader's appends ∥ persist → send acks → apply →
 * advance); each proposal's promise resolved with its result once applied.
 */
export class RaftNode<R> {
  readonly id: NodeId;
  private readonly core: RawNode;
  private readonly membership: MembershipHost;
  private readonly opts: Required<
    Omit<RaftNodeOptions<R>, 'rng' | 'logger' | 'addresses' | 'metrics' | 'onFailure'>
  > & {
    logger: NodeLogger;
  };
  private readonly metrics: NodeMetrics | undefined;
  private readonly onFailure: ((err: Error) => void) | undefined;
  /** The leader this node knew at its last Ready, for counting leader changes. */
  private knownLeader: NodeId = NONE;
  private readonly queue: Queued<R>[] = [];
  private readonly waiting = new Map<number, Waiting<R>>();
  private ticker: NodeJS.Timeout | undefined;
  private scheduled = false;
  private busy = false;
  private stopped = false;
  private failed: Error | undefined;
  private lastAppliedTerm: Term;
  private snapshotting = false;
  private lastSnapshotIndex: number;
  /** Command bytes applied since the last snapshot. */
  private bytesSinceSnapshot = 0;
  /**
   * The index the state machine reflects: the last entry applied to it, or the snapshot it was
   * restored from. Reads wait on this, not on the core's applied index, which a follower's core
   * moves to a snapshot's index as soon as the snapshot message arrives — before the host has
   * restored the state machine from it (handleReady), so a read released by the core's index
   * would be served from the state the snapshot replaces.
   */
  private stateIndex: Index = index(0);

  constructor(options: RaftNodeOptions<R>) {
    this.opts = {
      tickMs: 100,
      electionTicks: 10,
      heartbeatTicks: 1,
      proposalQueueMax: 10_000,
      snapshotEntries: 10_000,
      snapshotBytes: 64 << 20,
      retainEntries: 1_000,
      forwardTimeoutMs: 5_000,
      promoteLagMax: 1_000,
      leaseReads: false,
      clockDriftBound: 0.1,
      clock: () => performance.now(),
      ...options,
      logger: options.logger ?? quietLogger,
    };
    this.id = options.id;
    this.metrics = options.metrics;
    this.onFailure = options.onFailure;
    const storage = options.storage;
    const snap = storage.snapshot();
    this.lastSnapshotIndex = snap?.index ?? 0;
    this.lastAppliedTerm = snap?.term ?? (0 as Term);
    this.core = new RawNode({
      id: options.id,
      voters: options.voters,
      ...(options.addresses !== undefined ? { addresses: options.addresses } : {}),
      storage,
      rng: options.rng ?? { nextInt: (n) => randomInt(n) },
      electionTicks: this.opts.electionTicks,
      heartbeatTicks: this.opts.heartbeatTicks,
      applied: index(this.lastSnapshotIndex),
      leaseReads: options.leaseReads ?? false,
    });
    this.membership = new MembershipHost({
      id: options.id,
      core: this.core,
      transport: options.transport,
      logger: this.opts.logger,
      promoteLagMax: this.opts.promoteLagMax,
      changeTimeoutMs: 10 * this.opts.electionTicks * this.opts.tickMs,
      addresses: options.addresses,
      schedule: () => this.schedule(),
    });
  }

  /** Restores the state machine from the latest snapshot, then starts ticking and serving peers. */
  async start(): Promise<void> {
    const snap = this.opts.storage.snapshot();
    if (snap !== undefined) {
      await this.opts.stateMachine.restore(this.opts.storage.openSnapshot(snap, 0));
      this.stateIndex = snap.index;
    }
    const t = this.opts.transport;
    t.onMessage((m) => this.onMessage(m));
    t.onRequest((from, payload) => this.onForward(from, payload));
    t.onSnapshot((from, meta, chunks) => this.receiveSnapshot(from, meta, chunks));
    await t.start();
    this.membership.beforeReady();
    this.ticker = setInterval(() => {
      this.core.tick();
      this.schedule();
    }, this.opts.tickMs);
    this.schedule();
  }

  /** Stops ticking and serving; pending proposals fail with an unknown outcome. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.ticker);
    this.failAll(new OutcomeUnknownError('the node stopped'));
    await this.opts.transport.stop();
    await this.opts.storage.close();
  }

  /** Starts an election now instead of waiting for a timeout (tests, leadership hand-over). */
  campaign(): void {
    this.core.campaign();
    this.schedule();
  }

  status(): NodeStatus {
    const s = this.core.status();
    return {
      id: s.id,
      role: s.role,
      term: s.term,
      leader: s.lead === NONE ? undefined : s.lead,
      commitIndex: s.commit,
      appliedIndex: this.stateIndex,
      voters: [...this.core.membership().voters],
    };
  }

  isLeader(): boolean {
    return this.core.raft.role === Role.Leader;
  }

  /** Proposals accepted here and not yet applied or failed (queued for the next Ready, or in the log). */
  pendingProposals(): number {
    return this.queue.length + this.waiting.size;
  }

  /**
   * Replicates `command` and resolves with the state machine's result once it is applied here.
   * On a follower, the command is forwarded to the leader over the peer connection.
   * Errors: NoLeaderError / OverloadedError / NotLeaderError (never proposed: retry),
   * ProposalDroppedError (not applied: retry), OutcomeUnknownError (may apply: retry idempotently).
   */
  propose(command: Uint8Array): Promise<R> {
    const p = this.submit(command);
    // Counted where the caller asked (a forwarded proposal is not counted again by the leader).
    return this.metrics === undefined ? p : p.then(this.countCommitted, this.countFailed);
  }

  private readonly countCommitted = (result: R): R => {
    this.metrics?.proposalCommitted();
    return result;
  };

  private readonly countFailed = (err: unknown): never => {
    this.metrics?.proposalFailed(failureCode(err));
    throw err;
  };

  /** `propose()` without counting: for commands forwarded by a follower, and log reads. */
  private submit(command: Uint8Array): Promise<R> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    if (this.stopped) return Promise.reject(new StoppedError());
    if (this.core.raft.role !== Role.Leader) return this.forward(command);
    if (this.queue.length + this.waiting.size >= this.opts.proposalQueueMax) {
      return Promise.reject(new OverloadedError(this.queue.length + this.waiting.size));
    }
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ command, resolve, reject });
      this.schedule();
    });
  }

  // ---- the loop -----------------------------------------------------------------------------

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    // setImmediate runs after this turn's I/O callbacks: every proposal of the turn is queued by then.
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  private async run(): Promise<void> {
    if (this.busy || this.stopped || this.failed !== undefined) return;
    this.busy = true;
    try {
      this.flushProposals();
      while (this.core.hasReady() && !this.stopped) {
        await this.handleReady(this.core.ready());
        this.flushProposals();
      }
    } catch (err) {
      this.fail(err as Error);
    } finally {
      this.busy = false;
    }
  }

  /** All proposals of the turn go into the log together: one Ready, one write, one fsync. */
  private flushProposals(): void {
    if (this.queue.length === 0) return;
    const batch = this.queue.splice(0);
    const r = this.core.raft;
    // Expected refusals are answered here; anything the core throws beyond them is a bug and fatal.
    if (r.role !== Role.Leader || r.leadTransferee !== NONE) {
      const err =
        r.role !== Role.Leader
          ? new NotLeaderError(this.leaderOrUndefined())
          : new TransferInProgressError(r.leadTransferee);
      for (const q of batch) q.reject(err);
      return;
    }
    const at = this.core.propose(batch.map((q) => q.command));
    batch.forEach((q, k) => {
      this.waiting.set(at.index + k, { term: at.term, resolve: q.resolve, reject: q.reject });
    });
  }

  private async handleReady(rd: Ready): Promise<void> {
    const { storage, transport } = this.opts;
    this.membership.beforeReady();
    this.send(rd.messages);
    if (rd.snapshot !== undefined) {
      await this.opts.stateMachine.restore(storage.openSnapshot(rd.snapshot, 0));
      this.stateIndex = rd.snapshot.index;
      await storage.installSnapshot(rd.snapshot);
      this.lastSnapshotIndex = rd.snapshot.index;
      this.lastAppliedTerm = rd.snapshot.term;
      this.metrics?.snapshotInstalled();
      for (const [i, w] of this.waiting) {
        if (i <= rd.snapshot.index) {
          this.waiting.delete(i);
          w.reject(new OutcomeUnknownError('a snapshot replaced this node\u2019s log'));
        }
      }
    }
    // A commit-index change alone is not synced (one fdatasync per write, not two); the next
    // synced save carries it.
    if (rd.mustSync) await storage.save(rd.entries, rd.hardState);
    transport.send(rd.messagesAfterPersist);
    for (const e of rd.committedEntries) this.apply(e);
    this.core.advance();
    if (this.metrics !== undefined) this.noteLeader(this.metrics);
    this.membership.afterReady();
    this.releaseReads(rd);
    this.wakeAppliedWaiters();
    if (rd.role !== Role.Leader) this.rejectQueued();
    this.maybeSnapshot();
  }

  private apply(e: Entry): void {
    let result: R | undefined;
    // An empty command is a log-read barrier: it orders a read, it changes no state.
    if (e.kind === EntryKind.Normal && e.data.length > 0)
      result = this.opts.stateMachine.apply(e.data, e.index);
    else if (e.kind === EntryKind.Config) this.metrics?.confChangeApplied();
    this.bytesSinceSnapshot += e.data.length;
    this.lastAppliedTerm = e.term;
    this.stateIndex = e.index;
    const w = this.waiting.get(e.index);
    if (w === undefined) return;
    this.waiting.delete(e.index);
    if (w.term === e.term) w.resolve(result as R);
    else w.reject(new ProposalDroppedError(e.index));
  }

  /** Leader messages go out at once; a snapshot message goes after its bytes have been streamed. */
  private send(messages: readonly Message[]): void {
    const plain: Message[] = [];
    for (const m of messages) {
      if (m.type !== 'snapshot') {
        plain.push(m);
        continue;
      }
      const open = (offset: number) => this.opts.storage.openSnapshot(m.snapshot, offset);
      this.opts.transport.sendSnapshot(m.to, m.snapshot, open).then(
        (ok) => {
          if (ok) this.opts.transport.send([m]);
          this.core.reportSnapshot(m.to, ok);
          this.schedule();
        },
        (err: Error) => {
          this.opts.logger.warn(`snapshot ${m.snapshot.index} to ${m.to} failed: ${err.message}`);
          this.core.reportSnapshot(m.to, false);
          this.schedule();
        },
      );
    }
    if (plain.length === 0) return;
    this.noteHeartbeatRound(plain);
    this.opts.transport.send(plain);
  }

  private onMessage(m: Message): void {
    if (this.stopped || this.failed !== undefined) return;
    if (m.type === 'snapshot' && !this.receivedSnapshots.has(m.snapshot.index)) {
      // The bytes have not arrived (or not been made durable): let the leader send them again.
      return;
    }
    this.core.step(m);
    this.schedule();
  }

  // ---- snapshots ----------------------------------------------------------------------------

  private readonly receivedSnapshots = new Set<number>();

  private async receiveSnapshot(
    from: NodeId,
    meta: SnapshotMeta,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    const sink = this.opts.storage.createSnapshot(meta);
    try {
      for await (const chunk of chunks) await sink.write(chunk);
      await sink.commit();
      this.receivedSnapshots.add(meta.index);
      this.opts.logger.info(`received snapshot ${meta.index} (term ${meta.term}) from ${from}`);
    } catch (err) {
      await sink.abort().catch(() => {});
      // A failed fsync is fatal here as everywhere (what reached the disk is unknown, and the
      // folder may hold a renamed file whose data never did); a lost connection is not: the
      // leader sends the snapshot again.
      if (err instanceof FsyncFailedError) this.fail(err);
      throw err;
    }
  }

  /** Snapshots the state machine every `snapshotEntries` entries or `snapshotBytes` bytes, then compacts the log. */
  private maybeSnapshot(): void {
    const { snapshotEntries, snapshotBytes } = this.opts;
    const applied = this.stateIndex;
    if (this.snapshotting || applied === this.lastSnapshotIndex) return;
    const byEntries = snapshotEntries > 0 && applied - this.lastSnapshotIndex >= snapshotEntries;
    const byBytes = snapshotBytes > 0 && this.bytesSinceSnapshot >= snapshotBytes;
    if (!byEntries && !byBytes) return;
    // The snapshot carries the configuration in force at its index (thesis §4.1), not the start-up
    // one. A node that joined with no voters does not know it before the first Config entry it
    // holds (the start-up voters are not in the log): it waits until its snapshot would reach one.
    const m = this.core.membershipAt(applied);
    if (m.voters.length === 0) return;
    this.snapshotting = true;
    this.bytesSinceSnapshot = 0;
    const meta: SnapshotMeta = snapshotMetaOf(applied, this.lastAppliedTerm, m);
    const chunks = this.opts.stateMachine.snapshot(); // captures the state now, streams later
    const storage = this.opts.storage;
    void (async () => {
      const sink = storage.createSnapshot(meta);
      try {
        for await (const chunk of chunks) await sink.write(chunk);
        await sink.commit();
        const compactTo = index(Math.max(storage.firstIndex() - 1, applied - this.opts.retainEntries));
        await storage.compactLog(meta, compactTo);
        // A newer snapshot from the leader may have been installed meanwhile (compactLog then drops this one).
        this.lastSnapshotIndex = Math.max(this.lastSnapshotIndex, applied);
        this.metrics?.snapshotTaken();
      } catch (err) {
        await sink.abort().catch(() => {});
        this.fail(err as Error);
      } finally {
        this.snapshotting = false;
      }
    })();
  }

  // ---- forwarding (a follower's writes go to the leader over the peer connection) -----------

  private leaderOrUndefined(): NodeId | undefined {
    const lead = this.core.raft.lead;
    return lead === NONE ? undefined : lead;
  }

  /** Sends a request to the leader over the peer connection; a lost connection is an unknown outcome. */
  private async askLeader(kind: number, body: Uint8Array): Promise<Uint8Array> {
    const lead = this.leaderOrUndefined();
    if (lead === undefined) throw new NoLeaderError();
    try {
      return await this.opts.transport.request(lead, withKind(kind, body), this.opts.forwardTimeoutMs);
    } catch (err) {
      const e = err as { code?: string; maybeDelivered?: boolean; queueFull?: boolean };
      // Only a request that never left is "never proposed"; one lost with its connection may
      // have been carried out by the leader. A full send queue means a busy leader, not a lost one.
      if (e.code === 'ERR_PEER_UNAVAILABLE' && e.queueFull === true) {
        throw new OverloadedError(
          0,
          `the connection to leader ${lead} is full; the request was not sent — retry shortly`,
        );
      }
      if (e.code === 'ERR_PEER_UNAVAILABLE' && e.maybeDelivered !== true) throw new NoLeaderError();
      throw new OutcomeUnknownError(`the request to leader ${lead} failed (${(err as Error).message})`);
    }
  }

  private async forward(command: Uint8Array): Promise<R> {
    return decodeForwardReply(await this.askLeader(FORWARD_PROPOSE, command), this.opts.resultCodec);
  }

  /** A follower's read: the leader's read index, then wait until applied here (thesis §6.4). */
  private async followerRead(): Promise<void> {
    const at = decodeForwardReply(await this.askLeader(FORWARD_READ_INDEX, new Uint8Array(0)), indexCodec);
    await this.waitApplied(at);
  }

  private async onForward(from: NodeId, payload: Uint8Array): Promise<Uint8Array> {
    const kind = payload[0];
    const body = payload.subarray(1);
    const codec =
      kind === FORWARD_READ_INDEX || kind === FORWARD_LOG_READ
        ? indexCodec
        : kind === FORWARD_TRANSFER
          ? idCodec
          : kind === FORWARD_CONF_CHANGE
            ? membersCodec
            : this.opts.resultCodec;
    if (this.core.raft.role !== Role.Leader) {
      return encodeForwardReply(
        { error: new NotLeaderError(this.leaderOrUndefined()) },
        codec as ResultCodec<unknown>,
      );
    }
    try {
      if (kind === FORWARD_READ_INDEX)
        return encodeForwardReply({ result: await this.leaderReadIndex() }, indexCodec);
      if (kind === FORWARD_TRANSFER) {
        const to = new TextDecoder().decode(body);
        return encodeForwardReply(
          { result: await this.transferLeadership(to === '' ? undefined : to) },
          idCodec,
        );
      }
      if (kind === FORWARD_LOG_READ) {
        // The barrier entry is applied here: everything committed before the read began is too.
        await this.submit(new Uint8Array(0));
        return encodeForwardReply({ result: this.stateIndex }, indexCodec);
      }
      if (kind === FORWARD_CONF_CHANGE) {
        const change = JSON.parse(new TextDecoder().decode(body)) as MembershipChange;
        return encodeForwardReply({ result: await this.changeMembership(change) }, membersCodec);
      }
      const result = await this.submit(body);
      return encodeForwardReply({ result }, this.opts.resultCodec);
    } catch (err) {
      this.opts.logger.info(`request from ${from} failed: ${(err as Error).message}`);
      return encodeForwardReply({ error: err as FlotillaError }, codec as ResultCodec<unknown>);
    }
  }

  // ---- linearizable reads (ReadIndex, thesis §6.4) ------------------------------------------

  private nextReadId = 1;
  private readonly reads = new Map<number, { resolve: (i: number) => void; reject: (e: Error) => void }>();
  /** Confirmed reads waiting for the state machine to catch up, by read index. */
  private appliedWaiters: { index: number; resolve: () => void }[] = [];

  /**
   * Resolves once this node's state machine reflects every write that completed before the call:
   * read it then, and the read is linearizable. On the leader one heartbeat round confirms it
   * still leads; a follower asks the leader for the index over the peer connection.
   */
  /**
   * A lease read (thesis §6.4.1): while this leader's lease holds — it runs from the moment the
   * leader SENT the newest heartbeat round a majority answered, for electionTimeout × (1 − drift),
   * on the monotonic clock — the read needs no round trip: wait until applied ≥ commit, then read.
   * Otherwise (no lease, a follower, leases off) it falls back to `readBarrier()`. Resolves with
   * what it was served as.
   */
  async leaseRead(): Promise<'lease' | 'linearizable'> {
    const r = this.core.raft;
    if (this.opts.leaseReads) {
      const until = this.lease.expiry(r, leaseDurationMs(this.opts));
      if (until !== undefined && this.opts.clock() < until) {
        await this.waitApplied(r.log.commit);
        return 'lease';
      }
    }
    await this.readBarrier();
    return 'linearizable';
  }

  /**
   * Hands leadership to voter `to` (thesis §3.10), or to the most up-to-date other voter when
   * omitted, and resolves with the new leader's id once it leads. Proposals are refused while the
   * transfer runs; if it does not complete within an election timeout the old leader leads on and
   * this rejects. Called on a follower, the request goes to the leader.
   */
  async transferLeadership(to?: NodeId): Promise<NodeId> {
    if (this.core.raft.role !== Role.Leader) {
      const reply = await this.askLeader(FORWARD_TRANSFER, new TextEncoder().encode(to ?? ''));
      return decodeForwardReply(reply, idCodec);
    }
    const target = to ?? this.mostUpToDateFollower();
    if (target === undefined) throw new NoLeaderError();
    if (target === this.id) return this.id; // It leads already.
    this.core.transferLeadership(target);
    this.schedule();
    const deadline = this.opts.clock() + 2 * this.opts.electionTicks * this.opts.tickMs;
    for (;;) {
      const r = this.core.raft;
      if (r.role !== Role.Leader && r.lead === target) return target;
      if (r.role === Role.Leader && r.leadTransferee !== target) break;
      if (this.opts.clock() > deadline || this.stopped) break;
      await new Promise((resolve) => setTimeout(resolve, this.opts.tickMs));
    }
    throw new OutcomeUnknownError(`leadership did not move to node ${target} within an election timeout`);
  }

  // ---- membership (thesis §4.3; docs/membership.md) ------------------------------------------

  /**
   * The latest configuration this node knows (it takes effect when appended, §4.1). On the
   * leader each member's `match` says how far its log is known to reach.
   */
  members(): MembersView {
    return this.membership.members();
  }

  /**
   * Adds a voter or learner, promotes a learner or removes a member, and resolves with the new
   * configuration once it has committed — for a change of voters, once C(new) has (the core goes
   * through C(old,new) first). Refused with ConfChangeError while another change is in flight,
   * for a learner more than `promoteLagMax` entries behind, and for a change after which the
   * voters the leader hears from would be no quorum; UnknownMemberError for an unknown id.
   * Called on a follower, the request goes to the leader.
   */
  async changeMembership(change: MembershipChange): Promise<MembersView> {
    if (this.core.raft.role === Role.Leader) return this.membership.propose(change);
    const body = new TextEncoder().encode(JSON.stringify(change));
    return decodeForwardReply(await this.askLeader(FORWARD_CONF_CHANGE, body), membersCodec);
  }

  private mostUpToDateFollower(): NodeId | undefined {
    let best: NodeId | undefined;
    let bestMatch = -1;
    const m = this.core.membership();
    for (const [id, pr] of this.core.raft.progress) {
      if (id !== this.id && isVoter(m, id) && pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    return best;
  }

  /**
   * A read through the log (the slow baseline): an empty entry is committed and applied first. On
   * a follower the leader commits it and answers with its applied index, which the follower then
   * waits to apply itself before reading (as for a ReadIndex read).
   */
  async logRead(): Promise<void> {
    if (this.core.raft.role !== Role.Leader) {
      const reply = await this.askLeader(FORWARD_LOG_READ, new Uint8Array(0));
      await this.waitApplied(decodeForwardReply(reply, indexCodec));
      return;
    }
    await this.submit(new Uint8Array(0));
  }

  /** When each heartbeat round of the current term was sent (monotonic ms), for leases. */
  private readonly lease = new LeaseClock();

  private noteHeartbeatRound(messages: readonly Message[]): void {
    if (this.opts.leaseReads) this.lease.noteSent(messages, this.core.raft, this.opts.clock());
  }

  async readBarrier(): Promise<void> {
    if (this.failed !== undefined) throw this.failed;
    if (this.stopped) throw new StoppedError();
    if (this.core.raft.role !== Role.Leader) return this.followerRead();
    await this.waitApplied(await this.leaderReadIndex());
  }

  private leaderReadIndex(): Promise<number> {
    const id = this.nextReadId++;
    return new Promise<number>((resolve, reject) => {
      try {
        this.core.readIndex(id);
      } catch (err) {
        reject(err);
        return;
      }
      this.reads.set(id, { resolve, reject });
      this.schedule();
    });
  }

  private waitApplied(at: number): Promise<void> {
    if (this.stateIndex >= at) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ index: at, resolve }));
  }

  private releaseReads(rd: Ready): void {
    for (const rs of rd.readStates) {
      this.metrics?.readIndexConfirmed(rs.requests.length);
      for (const id of rs.requests) {
        this.reads.get(id)?.resolve(rs.index);
        this.reads.delete(id);
      }
    }
    for (const id of rd.readsDropped) {
      this.reads.get(id)?.reject(new NotLeaderError(this.leaderOrUndefined()));
      this.reads.delete(id);
    }
  }

  /** etcd's leader_changes_seen: a leader known after another one, or after none. */
  private noteLeader(metrics: NodeMetrics): void {
    const lead = this.core.raft.lead;
    if (lead === this.knownLeader) return;
    this.knownLeader = lead;
    if (lead !== NONE) metrics.leaderChanged();
  }

  private wakeAppliedWaiters(): void {
    if (this.appliedWaiters.length === 0) return;
    const applied = this.stateIndex;
    const ready = this.appliedWaiters.filter((w) => w.index <= applied);
    if (ready.length === 0) return;
    this.appliedWaiters = this.appliedWaiters.filter((w) => w.index > applied);
    for (const w of ready) w.resolve();
  }

  // ---- failure ------------------------------------------------------------------------------

  private rejectQueued(): void {
    if (this.queue.length === 0) return;
    const err = new NotLeaderError(this.leaderOrUndefined());
    for (const q of this.queue.splice(0)) q.reject(err);
  }

  private failAll(err: Error): void {
    this.membership.failAll(err);
    for (const q of this.queue.splice(0)) q.reject(err);
    for (const r of this.reads.values()) r.reject(err);
    this.reads.clear();
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }

  /** A storage failure (a failed fsync above all) is fatal: continuing could lose acknowledged data. */
  private fail(err: Error): void {
    if (this.failed !== undefined) return;
    this.failed = err;
    this.opts.logger.error(`node ${this.id} stops: ${err.message}`);
    clearInterval(this.ticker);
    this.failAll(new OutcomeUnknownError(`the node failed (${err.message})`));
    this.onFailure?.(err);
  }

  /** Why the node stopped working, if it did. */
  failure(): Error | undefined {
    return this.failed;
  }
}
