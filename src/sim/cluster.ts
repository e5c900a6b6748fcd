import type { TraceEvent } from '../raft/config.js';
import { FlotillaError } from '../raft/errors.js';
import type { ConfChangeTarget } from '../raft/membership.js';
import type { Message } from '../raft/messages.js';
import type { Ready } from '../raft/raw-node.js';
import { type Entry, type Index, type NodeId, Role, type Term } from '../raft/types.js';
import type { ClientHistory, ClientOp, Consistency } from './client-history.js';
import { ClientOps, type ReadIndexRpc } from './client-ops.js';
import { EventQueue } from './event-queue.js';
import { describeMessage, formatMs } from './format.js';
import { SafetyChecker } from './invariants.js';
import { leaseDurationMs } from './lease.js';
import { SimNetwork } from './network.js';
import { Prng } from './prng.js';
import { SimNode } from './sim-node.js';

/** How a simulated cluster is set up. Times are virtual milliseconds. */
export interface ClusterOptions {
  readonly seed: number;
  /** Every node slot of the cluster. */
  readonly ids?: readonly NodeId[];
  /**
   * The voters the cluster starts with (default: every id). The other nodes start with no voters,
   * as a node joining a running cluster does: silent until a configuration change adds them.
   */
  readonly voters?: readonly NodeId[];
  /** Flags a replay of this run needs besides `--seed N` (e.g. `--membership`), for failure reports. */
  readonly replayArgs?: string;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly tickMs?: number;
  /** A Ready's write + fdatasync takes a duration drawn from [diskMin, diskMax]. */
  readonly diskMin?: number;
  readonly diskMax?: number;
  readonly inflightMax?: number;
  /** Payload bytes per AppendEntries; 1 sends one entry per message. */
  readonly entryBytesMax?: number;
  /** Snapshot a node's state machine once this many applied entries follow its last snapshot (0: never). */
  readonly snapshotEntries?: number;
  /** Entries kept behind a snapshot for slow followers. */
  readonly retainEntries?: number;
  /**
   * The host serves `lease` reads from the leader's lease (thesis §6.4.1), as RaftNode's
   * `leaseReads`; needs checkQuorum. Otherwise `lease` reads are served as linearizable.
   */
  readonly leaseReads?: boolean;
  /** The clock-rate difference the lease allows for, as RaftNode's `clockDriftBound` (default 0.1). */
  readonly clockDriftBound?: number;
  /**
   * How far each node's clock rate is off: node X's clock reads virtual time × (1 + drift[X]), and
   * it ticks every `tickMs` of that clock. `'random'` draws each within ±clockDriftBound (from a
   * stream of its own, so the rest of the run is the same as without drift). Default: no drift.
   */
  readonly clockDrifts?: 'random' | Readonly<Record<NodeId, number>>;
  /** Overrides the lease duration on the leader's clock (default: as RaftNode, `leaseDurationMs`). */
  readonly leaseMs?: number;
  /** How many recent events a failure report shows. */
  readonly traceMax?: number;
  /** Receives every timeline event as it happens (for the scenario printer). */
  readonly onEvent?: (e: TimelineEvent) => void;
  /** Sees every message a node sends, before the network takes it (for diagnoses). */
  readonly onSend?: (m: Message) => void;
}

/** Something worth showing on a timeline. */
export type TimelineEvent =
  | { readonly at: number; readonly kind: 'core'; readonly event: TraceEvent }
  | { readonly at: number; readonly kind: 'note'; readonly text: string };

type SimEvent =
  | { readonly kind: 'tick'; readonly node: SimNode; readonly epoch: number }
  | { readonly kind: 'deliver'; readonly msg: Message; readonly snapshot?: readonly Entry[] }
  | { readonly kind: 'persisted'; readonly node: SimNode; readonly epoch: number }
  | { readonly kind: 'action'; readonly label: string; readonly run: () => void }
  | { readonly kind: 'rpc'; readonly rpc: ReadIndexRpc }
  /** A client's own event (a timeout, its next operation): the nodes it touches check themselves. */
  | { readonly kind: 'client'; readonly label: string; readonly run: () => void };

/** A run stopped on a broken invariant or a failed core assertion. */
export class SimulationFailure extends Error {
  readonly code = 'ERR_SIMULATION_FAILURE';
  constructor(
    readonly seed: number,
    readonly step: number,
    readonly at: number,
    override readonly cause: Error,
    readonly trace: readonly string[],
    replayArgs = '',
  ) {
    super(
      `seed=${seed} step=${step} t=${formatMs(at)}ms: ${cause.message}\n` +
        `replay: npm run sim -- --seed ${seed}${replayArgs === '' ? '' : ` ${replayArgs}`}\nlast events:\n  ${trace.join('\n  ')}`,
    );
    this.name = 'SimulationFailure';
  }
}

/** A client write the simulator proposed and saw applied by the node that accepted it. */
export interface Acked {
  readonly payload: string;
  readonly index: Index;
  readonly term: Term;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** A client gives up on an operation after this long (virtual ms) unless told otherwise. */
const DEFAULT_TIMEOUT_MS = 500;

/** Each node's clock drift; `'random'` draws uniformly in ±bound from a stream seeded by `seed` alone. */
function driftsFor(
  ids: readonly NodeId[],
  drifts: 'random' | Readonly<Record<NodeId, number>>,
  bound: number,
  seed: number,
): Map<NodeId, number> {
  const out = new Map<NodeId, number>();
  const rng = new Prng(seed ^ 0x0c10c);
  for (const id of ids) {
    const d = drifts === 'random' ? (2 * rng.nextFloat() - 1) * bound : (drifts[id] ?? 0);
    if (!(d > -1)) throw new Error(`clock drift of ${id} must be above -1 (a clock that runs), got ${d}`);
    out.set(id, d);
  }
  return out;
}

/**
 * A deterministic cluster of real cores: virtual time, a seeded PRNG, a faulty network and
 * disks that lose unsynced writes on a crash. Every event is followed by the safety checks.
 */
export class Cluster {
  readonly seed: number;
  readonly nodes = new Map<NodeId, SimNode>();
  readonly network: SimNetwork;
  readonly checker = new SafetyChecker((id) => this.nodes.get(id));
  readonly acked: Acked[] = [];
  /** Simulated clients: `put`/`get` below; every operation is recorded in `history`. */
  readonly clients: ClientOps;
  now = 0;
  steps = 0;
  /**
   * Snapshots a node put off because it could not tell the configuration at the index (it joined
   * with no voters and holds no Config entry at or below it); it takes one later.
   */
  snapshotsDeferred = 0;
  private readonly rng: Prng;
  private readonly queue = new EventQueue<SimEvent>();
  private readonly pending = new Map<NodeId, Map<number, { term: Term; payload: string }>>();
  private readonly recent: { at: number; text: string | (() => string) }[] = [];
  private readonly opts: Required<Omit<ClusterOptions, 'onEvent' | 'onSend' | 'voters'>> &
    Pick<ClusterOptions, 'onEvent' | 'onSend'>;

  constructor(options: ClusterOptions) {
    this.opts = {
      ids: ['a', 'b', 'c'],
      preVote: true,
      checkQuorum: true,
      electionTicks: 10,
      heartbeatTicks: 1,
      tickMs: 10,
      diskMin: 1,
      diskMax: 2,
      inflightMax: 64,
      entryBytesMax: 1 << 20,
      snapshotEntries: 0,
      retainEntries: 0,
      leaseReads: false,
      clockDriftBound: 0.1,
      clockDrifts: {},
      leaseMs: leaseDurationMs({
        electionTicks: options.electionTicks ?? 10,
        tickMs: options.tickMs ?? 10,
        clockDriftBound: options.clockDriftBound ?? 0.1,
      }),
      traceMax: 40,
      replayArgs: '',
      ...options,
    };
    const voters = options.voters ?? this.opts.ids;
    for (const id of voters) {
      if (!this.opts.ids.includes(id)) throw new Error(`initial voter "${id}" is not one of the ids`);
    }
    this.seed = options.seed;
    this.rng = new Prng(options.seed);
    this.network = new SimNetwork(this.rng.fork());
    const o = this.opts;
    this.clients = new ClientOps(
      {
        now: () => this.now,
        node: (id) => this.node(id),
        sendRpc: (rpc) => this.sendRpc(rpc),
        later: (at, label, run) => this.later(at, label, run),
        trace: (text) => this.remember(text),
        propose: (n, data) => this.proposeAt(n, data),
        drive: (n) => {
          this.drive(n);
          this.checkNode(n);
        },
      },
      { leaseReads: o.leaseReads, leaseMs: o.leaseMs },
    );
    const drifts = driftsFor(o.ids, o.clockDrifts, o.clockDriftBound, options.seed);
    for (const id of this.opts.ids) {
      const node = new SimNode(
        id,
        (storage, epoch) => ({
          id,
          voters: voters.includes(id) ? voters : [],
          storage,
          rng: new Prng((this.seed * 31 + id.charCodeAt(0)) ^ (epoch * 7919)),
          electionTicks: this.opts.electionTicks,
          heartbeatTicks: this.opts.heartbeatTicks,
          preVote: this.opts.preVote,
          checkQuorum: this.opts.checkQuorum,
          leaseReads: this.opts.leaseReads,
          inflightMax: this.opts.inflightMax,
          entryBytesMax: this.opts.entryBytesMax,
          trace: (event) => this.emit({ at: this.now, kind: 'core', event }),
        }),
        drifts.get(id) ?? 0,
      );
      this.nodes.set(id, node);
      this.pending.set(id, new Map());
      this.startNode(node);
    }
  }

  /** Flags a replay of this run needs besides `--seed N` ('' if none). */
  get replayArgs(): string {
    return this.opts.replayArgs;
  }

  node(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node "${id}" in this cluster`);
    return n;
  }

  /** Every client operation so far, in the checker's event format. */
  get history(): ClientHistory {
    return this.clients.history;
  }

  /** The up node that leads the highest term, if any. */
  leader(): NodeId | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      const r = n.raw?.raft;
      if (r?.role === Role.Leader && (best === undefined || r.term > best.raw!.raft.term)) best = n;
    }
    return best?.id;
  }

  /** Leaders that are up, whatever their term (a deposed leader may not know it yet). */
  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.raw?.raft.role === Role.Leader).map((n) => n.id);
  }

  // ---- running ------------------------------------------------------------------------------

  /** Runs one event. Returns false when nothing is scheduled. */
  step(): boolean {
    const ev = this.queue.pop();
    if (ev === undefined) return false;
    this.now = ev.at;
    this.steps++;
    try {
      this.handle(ev.item);
    } catch (err) {
      throw this.failure(err as Error);
    }
    return true;
  }

  runFor(ms: number): void {
    const until = this.now + ms;
    while (this.queue.peekTime() <= until) this.step();
    this.now = until;
  }

  /** Runs until `done()` holds, checking after every event; false if `ms` passed first. */
  runUntil(done: () => boolean, ms: number): boolean {
    const until = this.now + ms;
    while (!done()) {
      if (this.queue.peekTime() > until) {
        this.now = until;
        return false;
      }
      this.step();
    }
    return true;
  }

  /** Runs `run` at virtual time `at` (absolute), as one event; every node is checked after it. */
  schedule(at: number, label: string, run: () => void): void {
    this.queue.push(Math.max(at, this.now), { kind: 'action', label, run });
  }

  /**
   * Runs a client's `run` at virtual time `at` as one event. Unlike `schedule`, it checks only the
   * nodes that the client's operations touch (they check themselves). An empty `label` keeps the
   * event off the trace of recent events (the operations it starts trace themselves).
   */
  later(at: number, label: string, run: () => void): void {
    this.queue.push(Math.max(at, this.now), { kind: 'client', label, run });
  }

  // ---- faults and clients -------------------------------------------------------------------

  partition(...groups: NodeId[][]): void {
    this.network.partition(groups);
    this.note(`partition ${groups.map((g) => `{${g.join(',')}}`).join(' | ')}`);
  }

  heal(): void {
    this.network.heal();
    this.note('partition healed');
  }

  crash(id: NodeId): void {
    const n = this.node(id);
    if (!n.up) return;
    n.crash();
    this.pending.get(id)!.clear();
    this.clients.onCrash(n);
    this.note(`${id} crashed (unsynced writes lost)`);
    this.checkNode(n);
  }

  restart(id: NodeId): void {
    const n = this.node(id);
    if (n.up) return;
    this.startNode(n);
    this.note(`${id} restarted (term ${n.raw!.raft.term}, ${n.lastIndex()} entries on disk)`);
    this.checkNode(n);
  }

  /**
   * Proposes a client write at `id`. Returns where it landed in that node's log; it counts as
   * acknowledged once `id` applies it there. Throws NotLeaderError when `id` does not lead.
   */
  propose(id: NodeId, payload: string): { term: Term; index: Index } {
    const n = this.node(id);
    if (n.raw === undefined) throw new Error(`node ${id} is down`);
    return this.outside(() => this.proposeAt(n, encoder.encode(payload)));
  }

  /**
   * Client `process` writes `key = value` at `node` (see ClientOps): ok once `node` applied it in
   * the term it was proposed in, fail if `node` does not lead or another entry took its index,
   * info (unknown) on a crash or after `timeoutMs`. `onEnd` runs as its own event once it ended.
   */
  put(
    process: number,
    node: NodeId,
    key: string,
    value: string,
    opts: { timeoutMs?: number; onEnd?: (op: ClientOp) => void } = {},
  ): ClientOp {
    return this.outside(() =>
      this.clients.put(process, node, key, value, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, opts.onEnd),
    );
  }

  /** Client `process` reads `key` at `node` with `consistency` (see ClientOps). */
  get(
    process: number,
    node: NodeId,
    key: string,
    consistency: Consistency,
    opts: { timeoutMs?: number; onEnd?: (op: ClientOp) => void } = {},
  ): ClientOp {
    return this.outside(() =>
      this.clients.get(process, node, key, consistency, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, opts.onEnd),
    );
  }

  /**
   * Asks `id` to change the configuration (RawNode.proposeConfChange) and returns the index of the
   * Config entry it appended. Throws the core's refusals as they are (ConfChangeError,
   * NotLeaderError, TransferInProgressError); any other failure stops the run.
   */
  proposeConfChange(id: NodeId, target: ConfChangeTarget): Index {
    const n = this.node(id);
    if (n.raw === undefined) throw new Error(`node ${id} is down`);
    return this.outside(() => {
      const at = n.raw!.proposeConfChange(target);
      this.drive(n);
      this.checkNode(n);
      return at;
    });
  }

  /** Asks leader `id` to hand leadership to `to` (RawNode.transferLeadership); refusals as above. */
  transferLeadership(id: NodeId, to: NodeId): void {
    const n = this.node(id);
    if (n.raw === undefined) throw new Error(`node ${id} is down`);
    this.outside(() => {
      n.raw!.transferLeadership(to);
      this.drive(n);
      this.checkNode(n);
    });
  }

  /**
   * From now on, `id`'s clock runs at rate 1 + `drift` (it stays continuous). Lets a scenario give
   * the node that happened to win an election the clock it needs.
   */
  setClockDrift(id: NodeId, drift: number): void {
    if (!(drift > -1))
      throw new Error(`clock drift of ${id} must be above -1 (a clock that runs), got ${drift}`);
    this.node(id).setDrift(this.now, drift);
    this.note(`${id}'s clock now runs ${drift >= 0 ? '+' : ''}${(drift * 100).toFixed(1)}%`);
  }

  /** Starts an election at `id` now, as its election timeout would. */
  campaign(id: NodeId): void {
    const n = this.node(id);
    this.outside(() => {
      n.raw?.campaign();
      this.drive(n);
      this.checkNode(n);
    });
  }

  note(text: string): void {
    this.remember(text);
    this.emit({ at: this.now, kind: 'note', text });
  }

  // ---- internals ----------------------------------------------------------------------------

  /**
   * Runs a call made from outside an event: a broken invariant becomes a SimulationFailure; an
   * expected refusal (a FlotillaError with its code) goes to the caller as it is.
   */
  private outside<T>(run: () => T): T {
    try {
      return run();
    } catch (err) {
      if (err instanceof FlotillaError) throw err;
      throw this.failure(err as Error);
    }
  }

  private proposeAt(n: SimNode, data: Uint8Array): { term: Term; index: Index } {
    const at = n.raw!.propose([data]);
    this.pending.get(n.id)!.set(at.index, { term: at.term, payload: decoder.decode(data) });
    this.drive(n);
    this.checkNode(n);
    return at;
  }

  private sendRpc(rpc: ReadIndexRpc): void {
    for (const d of this.network.delays(rpc.from, rpc.to))
      this.queue.push(this.now + d, { kind: 'rpc', rpc });
  }

  private startNode(n: SimNode): void {
    n.start();
    const phase = 1 + this.rng.nextInt(this.opts.tickMs);
    this.queue.push(this.now + phase, { kind: 'tick', node: n, epoch: n.epoch });
  }

  private handle(ev: SimEvent): void {
    switch (ev.kind) {
      case 'tick': {
        const n = ev.node;
        if (n.epoch !== ev.epoch || n.raw === undefined) return;
        n.raw.tick();
        this.drive(n);
        this.queue.push(this.now + n.tickInterval(this.opts.tickMs), ev);
        this.checkNode(n);
        return;
      }
      case 'deliver': {
        const m = ev.msg;
        const n = this.nodes.get(m.to)!;
        if (n.raw === undefined || this.network.isBlocked(m.from, m.to)) return;
        this.remember(() => `deliver ${describeMessage(m)}`);
        // The snapshot's bytes came alongside (a real host streams them in chunks first).
        if (m.type === 'snapshot') n.incoming = { meta: m.snapshot, data: ev.snapshot ?? [] };
        n.raw.step(m);
        this.drive(n);
        this.checkNode(n);
        return;
      }
      case 'persisted': {
        const n = ev.node;
        if (n.epoch !== ev.epoch || n.inFlight === undefined) return;
        const rd = n.inFlight;
        n.inFlight = undefined;
        n.persist(rd);
        if (rd.snapshot !== undefined) this.snapshotInstalled(n, rd.snapshot.index);
        this.complete(n, rd);
        this.drive(n);
        this.checkNode(n);
        return;
      }
      case 'action':
        this.remember(ev.label);
        ev.run();
        for (const n of this.nodes.values()) this.checkNode(n);
        return;
      case 'rpc': {
        const r = ev.rpc;
        const n = this.nodes.get(r.to)!;
        if (n.raw === undefined || this.network.isBlocked(r.from, r.to)) return;
        this.remember(
          () =>
            `deliver ${r.from}→${r.to} ${r.type} op ${r.op}${r.type === 'read-index-resp' ? ` index=${r.index}` : ''}`,
        );
        this.clients.onRpc(r);
        this.checkNode(n);
        return;
      }
      case 'client':
        if (ev.label !== '') this.remember(ev.label);
        ev.run();
        return;
    }
  }

  /** Takes Readies until one needs the disk; that one completes when its write does. */
  private drive(n: SimNode): void {
    const raw = n.raw;
    if (raw === undefined || n.inFlight !== undefined) return;
    while (raw.hasReady()) {
      const rd = raw.ready();
      this.clients.onReady(n, rd);
      for (const m of rd.messages) this.send(m);
      if (rd.entries.length > 0 || rd.hardState !== undefined || rd.snapshot !== undefined) {
        n.inFlight = rd;
        const delay = this.rng.between(this.opts.diskMin, this.opts.diskMax);
        this.queue.push(this.now + delay, { kind: 'persisted', node: n, epoch: n.epoch });
        return;
      }
      this.complete(n, rd);
    }
  }

  private complete(n: SimNode, rd: Ready): void {
    for (const m of rd.messagesAfterPersist) this.send(m);
    const pending = this.pending.get(n.id)!;
    for (const e of rd.committedEntries) {
      n.apply(e);
      this.clients.history.applied(e.index, this.now);
      const p = pending.get(e.index);
      if (p === undefined) continue;
      pending.delete(e.index);
      if (p.term === e.term) this.acked.push({ payload: p.payload, index: e.index, term: e.term });
    }
    n.raw!.advance();
    this.clients.onApplied(n);
    const every = this.opts.snapshotEntries;
    if (every > 0 && n.applied.length - (n.storage.snapshot()?.index ?? 0) >= every) {
      if (!n.takeSnapshot(this.opts.retainEntries)) this.snapshotsDeferred++;
    }
  }

  /** Proposals at or below the snapshot's index will never be seen applied here (ClientOps answers its own). */
  private snapshotInstalled(n: SimNode, through: number): void {
    const pending = this.pending.get(n.id)!;
    for (const i of pending.keys()) if (i <= through) pending.delete(i);
  }

  private send(m: Message): void {
    this.checker.noteSent(m);
    this.opts.onSend?.(m);
    let snapshot: readonly Entry[] | undefined;
    if (m.type === 'snapshot') {
      const from = this.node(m.from);
      snapshot = from.snapshotData;
      if (snapshot.length !== m.snapshot.index) {
        // A newer snapshot replaced the one the core asked for: like a real host that keeps only
        // the newest, report the transfer failed so the leader offers the new one.
        this.remember(`${m.from} cannot stream snapshot ${m.snapshot.index}: it holds ${snapshot.length}`);
        from.raw?.reportSnapshot(m.to, false);
        return;
      }
    }
    for (const d of this.network.delays(m.from, m.to)) {
      const ev: SimEvent =
        snapshot === undefined ? { kind: 'deliver', msg: m } : { kind: 'deliver', msg: m, snapshot };
      this.queue.push(this.now + d, ev);
    }
  }

  private checkNode(n: SimNode): void {
    this.checker.check(n);
  }

  private emit(e: TimelineEvent): void {
    if (e.kind === 'core') this.remember(() => `${JSON.stringify(e.event)}`);
    this.opts.onEvent?.(e);
  }

  private remember(text: string | (() => string)): void {
    this.recent.push({ at: this.now, text });
    if (this.recent.length > this.opts.traceMax) this.recent.shift();
  }

  private failure(err: Error): Error {
    if (err instanceof SimulationFailure) return err;
    const trace = this.recent.map(
      (r) => `t=${formatMs(r.at)} ${typeof r.text === 'string' ? r.text : r.text()}`,
    );
    return new SimulationFailure(this.seed, this.steps, this.now, err, trace, this.opts.replayArgs);
  }
}
