import { encodeCommand } from '../kv/command-codec.js';
import type { KvStore } from '../kv/kv-store.js';
import type { KeyValue, KvCommand, KvResult, KvSession, RangeResult } from '../kv/types.js';
import { OutcomeUnknownError } from '../node/errors.js';
import type { RaftNode } from '../node/raft-node.js';
import { FlotillaError } from '../raft/errors.js';

/**
 * How a read is served: `linearizable` (ReadIndex), `lease` (a leader lease when enabled and
 * holding, else ReadIndex), `stale` (local state as is), `log` (through the log: the slow baseline).
 */
export type Consistency = 'linearizable' | 'lease' | 'stale' | 'log';

export interface WriteOptions {
  readonly ifModRevision?: number | undefined;
  readonly ifAbsent?: boolean | undefined;
  /**
   * Makes a retry with the same key exactly-once (a one-shot session in the state machine) while
   * the key is among the store's last `sessionsMax` session ids; an older key's retry applies again.
   */
  readonly idempotencyKey?: string | undefined;
}

/** Where KvService counts reads (FlotillaMetrics in src/server/metrics.ts); one call per read. */
export interface ReadMetrics {
  /** A read was served, as `servedAs` (a lease read may be served as linearizable). */
  readServed(servedAs: Consistency): void;
  /** A read asked for as `asked` could not be confirmed and was not served. */
  readFailed(asked: Consistency): void;
}

export interface KvServiceOptions {
  readonly valueBytesMax: number;
  /** A write not applied within this long fails with an unknown outcome (HTTP 504). */
  readonly writeTimeoutMs: number;
  readonly metrics?: ReadMetrics;
}

/**
 * The KV store as a service: writes go through Raft (forwarded to the leader when needed), reads
 * wait for a ReadIndex barrier unless the caller opts into stale reads.
 */
export class KvService {
  constructor(
    readonly node: RaftNode<KvResult>,
    readonly store: KvStore,
    private readonly opts: KvServiceOptions,
  ) {}

  put(key: Uint8Array, value: Uint8Array, o: WriteOptions = {}): Promise<KvResult> {
    const command: KvCommand = {
      op: 'put',
      key,
      value,
      ...(o.ifModRevision === undefined ? {} : { ifModRevision: o.ifModRevision }),
      ...(o.ifAbsent ? { ifAbsent: true as const } : {}),
      ...sessionOf(o.idempotencyKey),
    };
    return this.write(command);
  }

  delete(key: Uint8Array, o: WriteOptions = {}): Promise<KvResult> {
    const command: KvCommand = {
      op: 'delete',
      key,
      ...(o.ifModRevision === undefined ? {} : { ifModRevision: o.ifModRevision }),
      ...sessionOf(o.idempotencyKey),
    };
    return this.write(command);
  }

  /** Reads one key; returns the consistency it was actually served with. */
  async get(
    key: Uint8Array,
    consistency: Consistency,
  ): Promise<{ kv: KeyValue | undefined; servedAs: Consistency }> {
    const servedAs = await this.barrier(consistency);
    return { kv: this.store.get(key), servedAs };
  }

  async range(
    prefix: Uint8Array,
    limit: number,
    consistency: Consistency,
  ): Promise<{ result: RangeResult; servedAs: Consistency }> {
    const servedAs = await this.barrier(consistency);
    return { result: this.store.range({ prefix, limit }), servedAs };
  }

  private async barrier(consistency: Consistency): Promise<Consistency> {
    const metrics = this.opts.metrics;
    if (consistency === 'stale') {
      metrics?.readServed('stale');
      return 'stale';
    }
    const confirm = async (): Promise<Consistency> => {
      if (consistency === 'lease') return this.node.leaseRead();
      if (consistency === 'log') {
        await this.node.logRead();
        return 'log';
      }
      await this.node.readBarrier();
      return 'linearizable';
    };
    let servedAs: Consistency;
    try {
      servedAs = await withTimeout(
        confirm(),
        this.opts.writeTimeoutMs,
        'the read could not be confirmed in time',
      );
    } catch (err) {
      metrics?.readFailed(consistency);
      throw new ReadUnavailableError((err as Error).message);
    }
    metrics?.readServed(servedAs);
    return servedAs;
  }

  private write(command: KvCommand): Promise<KvResult> {
    const bytes = encodeCommand(command, { valueBytesMax: this.opts.valueBytesMax });
    return withTimeout(
      this.node.propose(bytes),
      this.opts.writeTimeoutMs,
      'the write was not applied in time',
    );
  }
}

/** A linearizable read could not be confirmed (no leader reachable, or not in time): never served stale. */
export class ReadUnavailableError extends FlotillaError {
  override readonly code = 'ERR_READ_UNAVAILABLE';
  constructor(reason: string) {
    super(`${reason}; the read was not served (retry, or ask for consistency=stale explicitly)`);
    this.name = 'ReadUnavailableError';
  }
}

/**
 * An Idempotency-Key is the one-shot session `idem:<key>`, seq 1: every key takes one slot of the
 * session table, so the table's LRU bound (`sessionsMax`, `flotilla serve --sessions-max`) is the
 * dedup window — the last `sessionsMax` keys (docs/kv.md).
 */
function sessionOf(idempotencyKey: string | undefined): { session?: KvSession } {
  return idempotencyKey === undefined ? {} : { session: { clientId: `idem:${idempotencyKey}`, seq: 1 } };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new OutcomeUnknownError(what)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
