import type { TraceEvent } from '../raft/config.js';
import type { Message } from '../raft/messages.js';
import type { Ready } from '../raft/raw-node.js';
import { type Entry, type Index, type NodeId, Role, type Term } from '../raft/types.js';
import { EventQueue } from './event-queue.js';
import { describeMessage } from './format.js';
import { SafetyChecker } from './invariants.js';
import { SimNetwork } from './network.js';
import { Prng } from './prng.js';
import { SimNode } from './sim-node.js';

/** How a simulated cluster is set up. Times are virtual milliseconds. */
export interface ClusterOptions {
  readonly seed: number;
  readonly ids?: readonly NodeId[];
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
  /** How many recent events a failure report shows. */
  readonly traceMax?: number;
  /** Receives every timeline event as it happens (for the scenario printer). */
  readonly onEvent?: (e: TimelineEvent) => void;
}

/** Something worth showing on a timeline. */
export type TimelineEvent =
  | { readonly at: number; readonly kind: 'core'; readonly event: TraceEvent }
  | { readonly at: number; readonly kind: 'note'; readonly text: string };

type SimEvent =
  | { readonly kind: 'tick'; readonly node: SimNode; readonly epoch: number }
  | { readonly kind: 'deliver'; readonly msg: Message; readonly snapshot?: readonly Entry[] }
  | { readonly kind: 'persisted'; readonly node: SimNode; readonly epoch: number }
  | { readonly kind: 'action'; readonly label: string; readonly run: () => void };

/** A run stopped on a broken invariant or a failed core assertion. */
export class SimulationFailure extends Error {
  readonly code = 'ERR_SIMULATION_FAILURE';
  constructor(
    readonly seed: number,
    readonly step: number,
    readonly at: number,
    override readonly cause: Error,
    readonly trace: readonly string[],
  ) {
    super(
      `seed=${seed} step=${step} t=${at}ms: ${cause.message}\n` +
        `replay: npm run sim -- --seed ${seed}\nlast events:\n  ${trace.join('\n  ')}`,
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

/**
 * A deterministic cluster of real cores: virtual time, a seeded PRNG, a faulty network and
 * disks that lose unsynced writes on a crash. Every event is followed by the safety checks.
 */
export class Cluster {
  readonly seed: number;
  readonly nodes = new Map<NodeId, SimNode>();
  readonly network: SimNetwork;
  readonly checker = new SafetyChecker();
  readonly acked: Acked[] = [];
  now = 0;
  steps = 0;
  private readonly rng: Prng;
  private readonly queue = new EventQueue<SimEvent>();
  private readonly pending = new Map<NodeId, Map<number, { term: Term; payload: string }>>();
  private readonly recent: { at: number; text: string | (() => string) }[] = [];
  private readonly opts: Required<Omit<ClusterOptions, 'onEvent'>> & Pick<ClusterOptions, 'onEvent'>;

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
      traceMax: 40,
      ...options,
    };
    this.seed = options.seed;
    this.rng = new Prng(options.seed);
    this.network = new SimNetwork(this.rng.fork());
    for (const id of this.opts.ids) {
      const node = new SimNode(id, (storage, epoch) => ({
        id,
        voters: this.opts.ids,
        storage,
        rng: new Prng((this.seed * 31 + id.charCodeAt(0)) ^ (epoch * 7919)),
        electionTicks: this.opts.electionTicks,
        heartbeatTicks: this.opts.heartbeatTicks,
        preVote: this.opts.preVote,
        checkQuorum: this.opts.checkQuorum,
        inflightMax: this.opts.inflightMax,
        entryBytesMax: this.opts.entryBytesMax,
        trace: (event) => this.emit({ at: this.now, kind: 'core', event }),
      }));
      this.nodes.set(id, node);
      this.pending.set(id, new Map());
      this.startNode(node);
    }
  }

  node(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node "${id}" in this cluster`);
    return n;
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

  /** Runs `run` at virtual time `at` (absolute), as one event. */
  schedule(at: number, label: string, run: () => void): void {
    this.queue.push(Math.max(at, this.now), { kind: 'action', label, run });
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
    try {
      const at = n.raw.propose([encoder.encode(payload)]);
      this.pending.get(id)!.set(at.index, { term: at.term, payload });
      this.drive(n);
      this.checkNode(n);
      return at;
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_NOT_LEADER') throw err;
      throw this.failure(err as Error);
    }
  }

  note(text: string): void {
    this.remember(text);
    this.emit({ at: this.now, kind: 'note', text });
  }

  // ---- internals ----------------------------------------------------------------------------

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
        this.queue.push(this.now + this.opts.tickMs, ev);
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
    }
  }

  /** Takes Readies until one needs the disk; that one completes when its write does. */
  private drive(n: SimNode): void {
    const raw = n.raw;
    if (raw === undefined || n.inFlight !== undefined) return;
    while (raw.hasReady()) {
      const rd = raw.ready();
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
      n.applied.push(e);
      const p = pending.get(e.index);
      if (p === undefined) continue;
      pending.delete(e.index);
      if (p.term === e.term) this.acked.push({ payload: p.payload, index: e.index, term: e.term });
    }
    n.raw!.advance();
    const every = this.opts.snapshotEntries;
    if (every > 0 && n.applied.length - (n.storage.snapshot()?.index ?? 0) >= every) {
      n.takeSnapshot(this.opts.ids, this.opts.retainEntries);
    }
  }

  private send(m: Message): void {
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
    const trace = this.recent.map((r) => `t=${r.at} ${typeof r.text === 'string' ? r.text : r.text()}`);
    return new SimulationFailure(this.seed, this.steps, this.now, err, trace);
  }
}
