import type { NodeId } from '../raft/types.js';
import type { ClientOp, Consistency } from './client-history.js';
import type { Cluster } from './cluster.js';
import type { Prng } from './prng.js';

/** The shape of a random client workload. Times are virtual milliseconds. */
export interface WorkloadOptions {
  /** Client processes, numbered from 0; each has one operation open at a time. */
  readonly clients: number;
  /** The keys the clients read and write; few keys make conflicts (and stale reads) likely. */
  readonly keys: readonly string[];
  /** Relative weights of the operations: writes, and gets by consistency. */
  readonly mix: Readonly<Record<'put' | 'delete' | 'cas', number>> & Readonly<Record<Consistency, number>>;
  readonly timeoutMs: number;
  /** A client waits up to this long after one operation ends before it starts the next. */
  readonly thinkMsMax: number;
  /** No operation starts at or after this virtual time. */
  readonly until: number;
}

/**
 * Clients that put unique values, delete keys, cas and get keys with every consistency, each at a
 * random node or at the node it last learned leads (from a refusal's hint or a successful write),
 * as a real client with leader discovery would. A cas is conditioned on the value the client last
 * saw of the key (read, written or deleted; absent when it knows nothing), as the nemesis' workers
 * do; values are unique, so that is a cas on the key's revision. All choices come from `rng`.
 */
export class Workload {
  private readonly hints = new Map<number, NodeId>();
  /** Per client, what it last saw each key hold (null: absent), by an operation that ended ok. */
  private readonly seen = new Map<number, Map<string, string | null>>();
  private written = 0;
  private readonly total: number;

  constructor(
    private readonly c: Cluster,
    private readonly rng: Prng,
    private readonly opts: WorkloadOptions,
  ) {
    const m = opts.mix;
    this.total = m.put + m.delete + m.cas + m.linearizable + m.lease + m.stale;
  }

  start(): void {
    for (let p = 0; p < this.opts.clients; p++) {
      this.c.later(this.c.now + this.rng.between(0, this.opts.thinkMsMax), '', () => this.issue(p));
    }
  }

  private issue(p: number): void {
    if (this.c.now >= this.opts.until) return;
    const key = this.rng.pick(this.opts.keys);
    const node = this.target(p);
    const opts = { timeoutMs: this.opts.timeoutMs, onEnd: (op: ClientOp) => this.ended(p, op) };
    const m = this.opts.mix;
    // Always inside an event of the cluster, which turns a broken invariant into a SimulationFailure.
    const clients = this.c.clients;
    let roll = this.rng.nextFloat() * this.total;
    if (roll < m.put) {
      clients.put(p, node, key, `v${++this.written}`, opts.timeoutMs, opts.onEnd);
      return;
    }
    roll -= m.put;
    if (roll < m.delete) {
      clients.delete(p, node, key, opts.timeoutMs, opts.onEnd);
      return;
    }
    roll -= m.delete;
    if (roll < m.cas) {
      const expected = this.seenBy(p).get(key) ?? null;
      clients.cas(p, node, { key, expected, value: `v${++this.written}` }, opts.timeoutMs, opts.onEnd);
      return;
    }
    roll -= m.cas;
    const consistency: Consistency =
      roll < m.linearizable ? 'linearizable' : roll < m.linearizable + m.lease ? 'lease' : 'stale';
    clients.get(p, node, key, consistency, opts.timeoutMs, opts.onEnd);
  }

  private seenBy(p: number): Map<string, string | null> {
    let seen = this.seen.get(p);
    if (seen === undefined) {
      seen = new Map();
      this.seen.set(p, seen);
    }
    return seen;
  }

  /** What `op` showed its client of the key: the value read or written, absent after a delete. */
  private remember(p: number, op: ClientOp): void {
    const seen = this.seenBy(p);
    if (op.status === 'ok') seen.set(op.key, op.value);
    else if (op.status !== 'fail' || !op.neverRan) seen.delete(op.key);
  }

  private ended(p: number, op: ClientOp): void {
    this.remember(p, op);
    if (op.leaderHint !== undefined) this.hints.set(p, op.leaderHint);
    else if (op.status === 'ok' && (op.f === 'put' || op.path === 'read-index' || op.path === 'lease'))
      this.hints.set(p, op.node);
    else if (op.status !== 'ok') this.hints.delete(p);
    // After a refusal or a timeout a client backs off, as a real one would, rather than spin.
    const pause = op.status === 'ok' ? this.rng.between(0, this.opts.thinkMsMax) : this.rng.between(10, 50);
    const at = this.c.now + pause;
    this.c.later(at, '', () => this.issue(p));
  }

  private target(p: number): NodeId {
    const hint = this.hints.get(p);
    if (hint !== undefined && this.rng.chance(0.75)) return hint;
    return this.rng.pick([...this.c.nodes.keys()]);
  }
}
