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
  /** Relative weights of the operations. */
  readonly mix: { readonly put: number } & Readonly<Record<Consistency, number>>;
  readonly timeoutMs: number;
  /** A client waits up to this long after one operation ends before it starts the next. */
  readonly thinkMsMax: number;
  /** No operation starts at or after this virtual time. */
  readonly until: number;
}

/**
 * Clients that put unique values and get keys with every consistency, each at a random node or
 * at the node it last learned leads (from a refusal's hint or a successful write), as a real
 * client with leader discovery would. All choices come from `rng`.
 */
export class Workload {
  private readonly hints = new Map<number, NodeId>();
  private written = 0;
  private readonly total: number;

  constructor(
    private readonly c: Cluster,
    private readonly rng: Prng,
    private readonly opts: WorkloadOptions,
  ) {
    const m = opts.mix;
    this.total = m.put + m.linearizable + m.lease + m.stale;
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
    let roll = this.rng.nextFloat() * this.total;
    if (roll < m.put) {
      this.c.put(p, node, key, `v${++this.written}`, opts);
      return;
    }
    roll -= m.put;
    const consistency: Consistency =
      roll < m.linearizable ? 'linearizable' : roll < m.linearizable + m.lease ? 'lease' : 'stale';
    this.c.get(p, node, key, consistency, opts);
  }

  private ended(p: number, op: ClientOp): void {
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
