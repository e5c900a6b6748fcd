/**
 * A small deterministic harness for unit tests of the pure core: N RawNodes, each with its own
 * MemoryStorage and seeded Rng, a FIFO message queue, and Readies processed synchronously in the
 * order RawNode documents (send `messages`, persist, send `messagesAfterPersist`, apply, advance).
 * Same options, same run: there is no clock and no randomness but the injected Rng.
 */
import { InvariantError } from '../../src/raft/assert.js';
import type { RaftConfig, TraceEvent } from '../../src/raft/config.js';
import type {
  AppendMessage,
  AppendResponseMessage,
  HeartbeatMessage,
  HeartbeatResponseMessage,
  Message,
  MessageType,
  VoteMessage,
  VoteResponseMessage,
} from '../../src/raft/messages.js';
import type { Raft } from '../../src/raft/raft.js';
import { RawNode, type Ready } from '../../src/raft/raw-node.js';
import {
  type Entry,
  EntryKind,
  type HardState,
  index,
  NONE,
  type NodeId,
  type Rng,
  Role,
  term,
} from '../../src/raft/types.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';

// ---- randomness -----------------------------------------------------------------------------

/** A 32-bit linear congruential generator (Numerical Recipes constants); counts its draws. */
export class Lcg implements Rng {
  private state: number;
  draws = 0;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  nextInt(n: number): number {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`nextInt(${n}): n must be a positive integer`);
    this.state = (Math.imul(this.state, 1664525) + 1013904223) >>> 0;
    this.draws++;
    // The high bits: an LCG's low bits cycle with short periods.
    return Math.floor((this.state / 0x1_0000_0000) * n);
  }
}

/** Always draws `k` (clamped to n − 1): an election timeout of exactly electionTicks + k. */
export class FixedRng implements Rng {
  constructor(readonly k: number) {}

  nextInt(n: number): number {
    return Math.min(this.k, n - 1);
  }
}

// ---- entries, logs and messages -------------------------------------------------------------

/** An entry at `i` of term `t`; its one-byte payload is the index, so entries are easy to tell apart. */
export function entry(i: number, t: number, kind: EntryKind = EntryKind.Normal): Entry {
  return { index: index(i), term: term(t), kind, data: Uint8Array.of(i & 0xff) };
}

/** Entries 1..terms.length with the given terms. */
export function entries(terms: readonly number[]): Entry[] {
  return terms.map((t, k) => entry(k + 1, t));
}

/** `count` copies of term `t`, for building logs: `[...repeat(1, 5), ...repeat(2, 50)]`. */
export function repeat(t: number, count: number): number[] {
  return new Array<number>(count).fill(t);
}

/**
 * A MemoryStorage that already holds entries with the given terms (indexes 1..n) and a hard
 * state (term defaults to the last entry's term).
 */
export function storageWith(
  terms: readonly number[],
  hs: { term?: number; vote?: NodeId; commit?: number } = {},
): MemoryStorage {
  const s = new MemoryStorage();
  s.append(entries(terms));
  s.setHardState({
    term: term(hs.term ?? terms[terms.length - 1] ?? 0),
    vote: hs.vote ?? NONE,
    commit: index(hs.commit ?? 0),
  });
  return s;
}

/** The terms of every entry in a core's log, persisted or not, index 1 first. */
export function logTerms(raft: Raft): number[] {
  const out: number[] = [];
  for (let i = 1; i <= raft.log.lastIndex(); i++) out.push(raft.log.term(index(i)));
  return out;
}

export function hardState(t: number, vote: NodeId, commit: number): HardState {
  return { term: term(t), vote, commit: index(commit) };
}

interface Route {
  from: NodeId;
  to: NodeId;
  term: number;
}

export function app(
  m: Route & { prevIndex: number; prevTerm: number; entries?: readonly Entry[]; commit?: number },
): AppendMessage {
  return {
    type: 'app',
    from: m.from,
    to: m.to,
    term: term(m.term),
    prevIndex: index(m.prevIndex),
    prevTerm: term(m.prevTerm),
    entries: m.entries ?? [],
    commit: index(m.commit ?? 0),
  };
}

export function appResp(
  m: Route & { index: number; reject?: boolean; hintIndex?: number; hintTerm?: number },
): AppendResponseMessage {
  return {
    type: 'app-resp',
    from: m.from,
    to: m.to,
    term: term(m.term),
    index: index(m.index),
    reject: m.reject ?? false,
    hintIndex: index(m.hintIndex ?? 0),
    hintTerm: term(m.hintTerm ?? 0),
  };
}

export function heartbeat(m: Route & { commit?: number; context?: number }): HeartbeatMessage {
  const commit = index(m.commit ?? 0);
  return { type: 'heartbeat', from: m.from, to: m.to, term: term(m.term), commit, context: m.context ?? 0 };
}

export function heartbeatResp(m: Route & { context?: number }): HeartbeatResponseMessage {
  return { type: 'heartbeat-resp', from: m.from, to: m.to, term: term(m.term), context: m.context ?? 0 };
}

export function vote(m: Route & { lastIndex: number; lastTerm: number; pre?: boolean }): VoteMessage {
  return {
    type: m.pre === true ? 'pre-vote' : 'vote',
    from: m.from,
    to: m.to,
    term: term(m.term),
    lastIndex: index(m.lastIndex),
    lastTerm: term(m.lastTerm),
    transfer: false,
  };
}

export function voteResp(m: Route & { reject: boolean; pre?: boolean }): VoteResponseMessage {
  return {
    type: m.pre === true ? 'pre-vote-resp' : 'vote-resp',
    from: m.from,
    to: m.to,
    term: term(m.term),
    reject: m.reject,
  };
}

type Narrow<M, T> = M extends { type: infer U } ? (T extends U ? M : never) : never;

/** The message interface that carries `type` T (VoteMessage for 'vote' and for 'pre-vote'). */
export type MessageOf<T extends MessageType> = Narrow<Message, T>;

/** Narrows a message list to one type. */
export function ofType<T extends MessageType>(msgs: readonly Message[], type: T): MessageOf<T>[] {
  return msgs.filter((m): m is MessageOf<T> => m.type === type);
}

/** Every message a Ready sends, before-persist ones first. */
export function allMessages(rd: Ready): Message[] {
  return [...rd.messages, ...rd.messagesAfterPersist];
}

// ---- nodes ----------------------------------------------------------------------------------

/** Config fields a test may tune; id, voters, storage and rng come from the harness. */
export type Tunables = Partial<Omit<RaftConfig, 'id' | 'voters' | 'storage' | 'rng'>>;

export interface SoloOptions extends Tunables {
  id?: NodeId;
  voters?: readonly NodeId[];
  storage?: MemoryStorage;
  rng?: Rng;
}

/** One RawNode outside any cluster, to be stepped with forged messages. */
export class Solo {
  readonly raw: RawNode;
  readonly storage: MemoryStorage;

  constructor(o: SoloOptions = {}) {
    const {
      id = 'a',
      voters = ['a', 'b', 'c'],
      storage = new MemoryStorage(),
      rng = new Lcg(1),
      ...rest
    } = o;
    this.storage = storage;
    this.raw = new RawNode({ id, voters, storage, rng, ...rest });
  }

  get raft(): Raft {
    return this.raw.raft;
  }

  /** Steps `m`, then handles the Ready (persist, advance) and returns it. */
  step(m: Message): Ready {
    this.raw.step(m);
    return this.cycle();
  }

  /** Takes the Ready, persists it, advances and returns it (an empty Ready when there was none). */
  cycle(): Ready {
    const rd = this.raw.ready();
    if (rd.snapshot !== undefined) this.storage.applySnapshot(rd.snapshot);
    this.storage.append(rd.entries);
    if (rd.hardState !== undefined) this.storage.setHardState(rd.hardState);
    this.raw.advance();
    return rd;
  }
}

// ---- the cluster ----------------------------------------------------------------------------

export interface ClusterOptions {
  /** Number of nodes, ids 'a', 'b', 'c', ... (default 3). */
  size?: number;
  /** Seed of every node's Lcg; node k draws from seed + k (default 1). */
  seed?: number;
  /** Tunables for every node. */
  config?: Tunables;
  /** Tunables or an rng for one node, over `config`. */
  node?: Partial<Record<NodeId, Tunables & { rng?: Rng }>>;
  /** Preloaded storage for some nodes; the rest start empty. */
  storage?: Partial<Record<NodeId, MemoryStorage>>;
}

export interface DeliverOptions {
  /** Messages for which this returns true are lost. */
  drop?: (m: Message) => boolean;
}

const DELIVERIES_MAX = 100_000;

export class Cluster {
  readonly ids: NodeId[];
  readonly raws = new Map<NodeId, RawNode>();
  readonly storages = new Map<NodeId, MemoryStorage>();
  /** Committed entries each node applied, in order. */
  readonly applied = new Map<NodeId, Entry[]>();
  /** Every trace event of every node, in order. */
  readonly trace: TraceEvent[] = [];
  /** Messages sent and not yet delivered or dropped, oldest first. */
  queue: Message[] = [];
  /** Every message stepped into its receiver, in order. */
  readonly delivered: Message[] = [];
  /** Every Ready processed, in order. */
  readonly readies: { id: NodeId; ready: Ready }[] = [];
  private readonly cut = new Set<NodeId>();

  constructor(o: ClusterOptions = {}) {
    const size = o.size ?? 3;
    this.ids = Array.from({ length: size }, (_, k) => String.fromCharCode(97 + k));
    this.ids.forEach((id, k) => {
      const storage = o.storage?.[id] ?? new MemoryStorage();
      const { rng = new Lcg((o.seed ?? 1) + k), ...tunables } = { ...o.config, ...o.node?.[id] };
      this.storages.set(id, storage);
      this.applied.set(id, []);
      this.raws.set(
        id,
        new RawNode({
          trace: (e) => this.trace.push(e),
          ...tunables,
          id,
          voters: this.ids,
          storage,
          rng,
        }),
      );
    });
  }

  node(id: NodeId): RawNode {
    const raw = this.raws.get(id);
    if (raw === undefined) throw new Error(`no node ${id}`);
    return raw;
  }

  raft(id: NodeId): Raft {
    return this.node(id).raft;
  }

  storage(id: NodeId): MemoryStorage {
    return this.storages.get(id)!;
  }

  /** The nodes that currently believe they lead. */
  leaders(): NodeId[] {
    return this.ids.filter((id) => this.raft(id).role === Role.Leader);
  }

  /** Sends a Ready's `messages` (onto the queue). */
  send(msgs: readonly Message[]): void {
    for (const m of msgs) this.queue.push(m);
  }

  /** Installs a Ready's snapshot, then writes its entries and hard state to the node's storage. */
  persist(id: NodeId, rd: Ready): void {
    const s = this.storage(id);
    if (rd.snapshot !== undefined) s.applySnapshot(rd.snapshot);
    s.append(rd.entries);
    if (rd.hardState !== undefined) s.setHardState(rd.hardState);
  }

  /**
   * Handles one Ready of `id` in the documented order and returns it, or undefined when the node
   * had nothing to do.
   */
  process(id: NodeId): Ready | undefined {
    const raw = this.node(id);
    if (!raw.hasReady()) return undefined;
    const rd = raw.ready();
    this.readies.push({ id, ready: rd });
    this.send(rd.messages);
    this.persist(id, rd);
    this.send(rd.messagesAfterPersist);
    this.applied.get(id)!.push(...rd.committedEntries);
    raw.advance();
    return rd;
  }

  /** Processes Readies until no node has one (advance can produce more work, e.g. a commit). */
  processAll(): void {
    for (let rounds = 0; ; rounds++) {
      if (rounds > 1000) throw new Error('processAll: Readies keep coming');
      let any = false;
      for (const id of this.ids) if (this.process(id) !== undefined) any = true;
      if (!any) return;
    }
  }

  /** Steps one message into its receiver unless it is cut off or `drop` says so; true if delivered. */
  deliver(m: Message, drop?: (m: Message) => boolean): boolean {
    if (this.cut.has(m.from) || this.cut.has(m.to) || drop?.(m) === true) return false;
    this.delivered.push(m);
    this.node(m.to).step(m);
    return true;
  }

  /** Processes every Ready and delivers queued messages, FIFO, until the cluster is quiet. */
  deliverAll(o: DeliverOptions = {}): void {
    this.processAll();
    for (let n = 0; this.queue.length > 0; n++) {
      if (n > DELIVERIES_MAX) throw new Error(`deliverAll: still busy after ${DELIVERIES_MAX} messages`);
      const m = this.queue.shift()!;
      if (this.deliver(m, o.drop)) this.processAll();
    }
  }

  /** Drops every queued message. */
  clearQueue(): void {
    this.queue = [];
  }

  /** Starts an election at `id` (PreVote first when on) and delivers until quiet. */
  elect(id: NodeId, o: DeliverOptions = {}): Raft {
    this.node(id).campaign();
    this.deliverAll(o);
    return this.raft(id);
  }

  /** `n` rounds of: tick every node once, then deliver until quiet. */
  tickAll(n: number, o: DeliverOptions = {}): void {
    for (let k = 0; k < n; k++) {
      for (const id of this.ids) this.node(id).tick();
      this.deliverAll(o);
    }
  }

  /** `n` rounds of: tick `id` only, then deliver until quiet. */
  tick(id: NodeId, n: number, o: DeliverOptions = {}): void {
    for (let k = 0; k < n; k++) {
      this.node(id).tick();
      this.deliverAll(o);
    }
  }

  /** Cuts `id` off: every message to or from it is lost until heal(). */
  isolate(id: NodeId): void {
    this.cut.add(id);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Delivered messages of one type, optionally from / to given nodes. */
  deliveredOf<T extends MessageType>(type: T, route: { from?: NodeId; to?: NodeId } = {}) {
    return ofType(this.delivered, type).filter(
      (m) =>
        (route.from === undefined || m.from === route.from) && (route.to === undefined || m.to === route.to),
    );
  }
}

/** Runs `f` and returns the InvariantError it throws (fails the caller's expectation otherwise). */
export function invariantError(f: () => void): InvariantError {
  try {
    f();
  } catch (e) {
    if (e instanceof InvariantError) return e;
    throw e;
  }
  throw new Error('expected an InvariantError, none was thrown');
}
