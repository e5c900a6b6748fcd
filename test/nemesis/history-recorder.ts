import type { EventType, Scalar } from '../../src/check/index.js';

/** The operations the workers run, as docs/checker.md names them. */
export type KvOp = 'get' | 'put' | 'delete' | 'cas';

/** One line of history.jsonl (docs/checker.md). */
export interface HistoryLine {
  readonly process: number;
  readonly type: EventType;
  readonly f: KvOp;
  readonly key: string;
  readonly value?: Scalar;
  readonly expected?: Scalar;
  readonly time: number;
  /** Evidence the checker ignores: the node an invocation was sent to. */
  readonly node?: string;
  /** Evidence the checker ignores: a get served as `lease` or `log` read (linearizable too). */
  readonly consistency?: 'lease' | 'log';
  /** Evidence the checker ignores: why an operation failed or ended unknown. */
  readonly error?: string;
}

/** An operation that has been invoked and not yet completed. */
export interface OpenOp {
  readonly process: number;
  readonly f: KvOp;
  readonly key: string;
  /** Where its invocation sits in the recorder. */
  readonly slot: number;
}

/** Counts per operation and outcome, e.g. `counts.put.info`. */
export type OutcomeCounts = Record<KvOp, Record<EventType | 'left-out' | 'open', number>>;

/**
 * Records a client history on one monotonic clock (performance.now()). Events are appended in
 * the order they happen, so the file is in time order. A `cas` that was refused before it ran is
 * left out entirely (docs/checker.md): its invocation is removed, not completed.
 */
export class HistoryRecorder {
  private readonly lines: (HistoryLine | undefined)[] = [];
  /** Invocations of the cas operations left out, each with the answer that refused it. */
  private readonly leftOutLines: { invoke: HistoryLine; error: string; time: number }[] = [];
  private nextProcess = 0;
  private openCount = 0;

  /** A process id no one has used. */
  newProcess(): number {
    return this.nextProcess++;
  }

  invoke(
    process: number,
    f: KvOp,
    key: string,
    fields: { value?: Scalar; expected?: Scalar; node?: string; consistency?: 'lease' | 'log' } = {},
  ): OpenOp {
    this.lines.push({ process, type: 'invoke', f, key, ...fields, time: performance.now() });
    this.openCount++;
    return { process, f, key, slot: this.lines.length - 1 };
  }

  /** The operation happened; a `get` passes what it read (`null` = absent). */
  ok(op: OpenOp, value?: Scalar): void {
    this.complete(op, 'ok', op.f === 'get' ? { value: value ?? null } : {});
  }

  /** The operation did not happen (for a `cas`: the register did not hold `expected`). */
  fail(op: OpenOp, error: string): void {
    this.complete(op, 'fail', { error });
  }

  /** The outcome is unknown: it may take effect at any time from now on, or never. */
  info(op: OpenOp, error: string): void {
    this.complete(op, 'info', { error });
  }

  /** A `cas` refused before it ran: removed from the history (kept aside as evidence). */
  leaveOut(op: OpenOp, error: string): void {
    const invoke = this.lines[op.slot];
    if (invoke !== undefined) this.leftOutLines.push({ invoke, error, time: performance.now() });
    this.lines[op.slot] = undefined;
    this.openCount--;
  }

  private complete(op: OpenOp, type: EventType, fields: { value?: Scalar; error?: string }): void {
    this.lines.push({ process: op.process, type, f: op.f, key: op.key, ...fields, time: performance.now() });
    this.openCount--;
  }

  /** Operations invoked and not completed yet. */
  get open(): number {
    return this.openCount;
  }

  /** The recorded events, in time order. */
  events(): HistoryLine[] {
    return this.lines.filter((l): l is HistoryLine => l !== undefined);
  }

  /** The cas operations left out of the history, as invoke and `fail` lines (not a valid history). */
  leftOut(): HistoryLine[] {
    return this.leftOutLines.flatMap(({ invoke, error, time }) => [
      invoke,
      { process: invoke.process, type: 'fail' as const, f: invoke.f, key: invoke.key, error, time },
    ]);
  }

  toJsonl(): string {
    return this.events()
      .map((l) => `${JSON.stringify(l)}\n`)
      .join('');
  }

  /** Outcome counts of the operations on keys that `keep` accepts. */
  counts(keep: (key: string) => boolean = () => true): OutcomeCounts {
    const zero = () => ({ invoke: 0, ok: 0, fail: 0, info: 0, 'left-out': 0, open: 0 });
    const counts: OutcomeCounts = { get: zero(), put: zero(), delete: zero(), cas: zero() };
    for (const l of this.lines) if (l !== undefined && keep(l.key)) counts[l.f][l.type]++;
    for (const l of this.leftOutLines) if (keep(l.invoke.key)) counts.cas['left-out']++;
    for (const f of ['get', 'put', 'delete', 'cas'] as const) {
      const c = counts[f];
      c.open = c.invoke - c.ok - c.fail - c.info;
    }
    return counts;
  }
}
