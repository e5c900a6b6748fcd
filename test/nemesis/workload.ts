import type { Scalar } from '../../src/check/index.js';
import type { Prng } from '../../src/sim/prng.js';
import type { HistoryRecorder, KvOp, OpenOp } from './history-recorder.js';
import { classify, type KvRequest, type ReadMode, sendKv } from './kv-http.js';
import { sleep } from './nemesis-cluster.js';

/** An answer the API does not document, kept as evidence. */
export interface Anomaly {
  readonly time: number;
  readonly node: string;
  readonly f: KvOp;
  readonly key: string;
  readonly reason: string;
}

/** How the client workers behave. */
export interface WorkloadOptions {
  readonly recorder: HistoryRecorder;
  /** Every node's id and client URL; each operation goes to one picked at random. */
  readonly endpoints: readonly Endpoint[];
  /** The keys operated on now; told of every operation, it retires keys that have seen enough. */
  readonly keys: { current(): readonly string[]; count(key: string, unknownWrite: boolean): void };
  readonly rng: Prng;
  readonly timeoutMs: number;
  /** Pause between a worker's operations, in ms (inclusive range). */
  readonly pauseMs: readonly [number, number];
  /** A node that gets half of all operations while set (clients reading from the leader). */
  readonly focus: () => Endpoint | undefined;
  /** A fresh value no one has written: values are unique so a cas on a modRevision is a cas on a value. */
  readonly nextValue: () => string;
  readonly anomalies: Anomaly[];
  /** The 503 codes taken to mean "never applied" (see classify). */
  readonly neverApplied: ReadonlySet<string>;
}

/** A node as the clients know it. */
export interface Endpoint {
  readonly id: string;
  readonly url: string;
}

/** One operation a worker is about to run. */
interface PlannedOp {
  readonly process: number;
  readonly node: Endpoint;
  readonly f: KvOp;
  readonly key: string;
  /** How a get asks to be served. */
  readonly read: ReadMode;
}

/** What a worker last saw of a key: the value and the modRevision it had (undefined: absent). */
interface Seen {
  readonly value: Scalar;
  readonly modRevision: number | undefined;
}

/**
 * In-process client workers, each a process of the history: a random mix of get, put, delete and
 * cas over a small key set against random nodes, every call with a timeout. After an operation
 * of unknown outcome the worker continues as a new process, as in Jepsen (the old one may still
 * have an operation in flight as far as the history is concerned).
 */
export class Workload {
  private stopping = false;
  private running: Promise<void>[] = [];
  /** Successful reads by what the nodes say they were served as, e.g. `lease → lease: 120`. */
  readonly readsServed: Record<string, number> = {};

  constructor(
    private readonly opts: WorkloadOptions,
    private readonly count: number,
  ) {}

  start(): void {
    for (let k = 0; k < this.count; k++) this.running.push(this.worker(this.opts.rng.fork()));
  }

  /** Lets every worker finish the operation it is in (bounded by the request timeout). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
    this.running = [];
  }

  private async worker(rng: Prng): Promise<void> {
    const o = this.opts;
    const seen = new Map<string, Seen>();
    let process = o.recorder.newProcess();
    while (!this.stopping) {
      const key = rng.pick(o.keys.current());
      const focus = o.focus();
      const node = focus !== undefined && rng.chance(0.5) ? focus : rng.pick(o.endpoints);
      const r = rng.nextFloat();
      const f: KvOp = r < 0.45 ? 'get' : r < 0.7 ? 'put' : r < 0.9 ? 'cas' : 'delete';
      // docs/api.md: lease reads (within the clock-drift bound) and log reads are linearizable too.
      const q = rng.nextFloat();
      const read: ReadMode = f !== 'get' || q < 0.5 ? 'linearizable' : q < 0.85 ? 'lease' : 'log';
      const unknown = await this.operate({ process, node, f, key, read }, seen);
      o.keys.count(key, unknown && f !== 'get');
      if (unknown) process = o.recorder.newProcess();
      await sleep(rng.between(o.pauseMs[0], o.pauseMs[1]));
    }
  }

  /** Runs one operation and records it; resolves true when its outcome is unknown. */
  private async operate(plan: PlannedOp, seen: Map<string, Seen>): Promise<boolean> {
    const { process, node, f, key, read } = plan;
    const consistency = read === 'linearizable' ? undefined : read;
    const o = this.opts;
    const before = seen.get(key);
    const value = f === 'put' || f === 'cas' ? o.nextValue() : undefined;
    // A cas is conditioned on what this worker last read of the key; create-only when absent.
    const ifModRevision = before?.value === null ? undefined : before?.modRevision;
    const expected: Scalar = ifModRevision === undefined ? null : (before?.value ?? null);
    const op: OpenOp = o.recorder.invoke(process, f, key, {
      ...(value === undefined ? {} : { value }),
      ...(f === 'cas' ? { expected } : {}),
      node: node.id,
      ...(consistency === undefined ? {} : { consistency }),
    });
    const req: KvRequest = {
      f,
      key,
      ...(value === undefined ? {} : { value }),
      ...(f === 'cas' && ifModRevision !== undefined ? { ifModRevision } : {}),
      ...(consistency === undefined ? {} : { consistency }),
    };
    const result = classify(f, await sendKv(node.url, req, o.timeoutMs), o.neverApplied);
    switch (result.type) {
      case 'ok':
        o.recorder.ok(op, result.value);
        if (f === 'get') {
          const served = `${read} → ${result.servedAs ?? '?'}`;
          this.readsServed[served] = (this.readsServed[served] ?? 0) + 1;
        }
        if (f === 'delete') seen.set(key, { value: null, modRevision: undefined });
        else
          seen.set(key, {
            value: f === 'get' ? result.value : (value ?? null),
            modRevision: result.modRevision,
          });
        return false;
      case 'fail':
        o.recorder.fail(op, result.reason);
        // A failed cas names what the key holds now: the next cas can be conditioned on that.
        if (result.current !== undefined) seen.set(key, result.current);
        return false;
      case 'leave-out':
        o.recorder.leaveOut(op, result.reason);
        return false;
      case 'info':
        o.recorder.info(op, result.reason);
        if (result.anomaly) {
          o.anomalies.push({ time: performance.now(), node: node.id, f, key, reason: result.reason });
        }
        seen.delete(key);
        return true;
    }
  }
}
