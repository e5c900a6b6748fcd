import type { EventType, HistoryEvent } from '../check/history.js';
import { assert } from '../raft/assert.js';
import type { NodeId } from '../raft/types.js';

/** How a simulated client asks for a read (the API's `consistency`). */
export type Consistency = 'linearizable' | 'lease' | 'stale';

/**
 * How a successful read was served: ReadIndex at the leader, a read index fetched from the leader
 * by a follower, the leader's lease, or the node's local state as is.
 */
export type ReadPath = 'read-index' | 'follower-read-index' | 'lease' | 'stale';

/** Where a client operation stands: open, or ended as in the checker's format. */
export type OpStatus = 'open' | Exclude<EventType, 'invoke'>;

/** What a simulated client asks of the store. */
export type ClientOpName = 'get' | 'put' | 'delete' | 'cas';

/** One client operation, as a test sees it and as the history records it. */
export interface ClientOp {
  readonly id: number;
  /** The client issuing it; a process has one operation open at a time. */
  readonly process: number;
  readonly f: ClientOpName;
  readonly key: string;
  /** The node the client sent it to. */
  readonly node: NodeId;
  /** Gets only. */
  readonly consistency: Consistency | undefined;
  /** cas only: the value the key must hold for the cas to write (null: absent). */
  readonly expected: string | null | undefined;
  readonly invokedAt: number;
  /**
   * put and cas: the value written; delete: null; get: the value read once `ok` (null: the key is
   * absent).
   */
  value: string | null;
  /**
   * A cas `ok` wrote; a cas `fail` found its condition false — unless `neverRan`: refused before
   * it was proposed, or another entry took its index. A cas that never ran is left out of the
   * checked history (the nemesis does the same), since a cas `fail` there means "the key did not
   * hold `expected`". For put and delete, `fail` always means it never ran.
   */
  status: OpStatus;
  /** Set with `fail` when the operation certainly did not run (see `status`). */
  neverRan: boolean;
  /** Virtual ms when it ended (NaN while open). */
  endedAt: number;
  /** Why it failed or its outcome is unknown ('' when ok). */
  reason: string;
  /** How a successful get was served. */
  path: ReadPath | undefined;
  /** Who the node named as leader when it refused the operation. */
  leaderHint: NodeId | undefined;
  /** Writes: where the proposer placed it in its log (undefined if it was never proposed). */
  proposed: { readonly index: number; readonly term: number } | undefined;
  /** Runs (as its own event, at the same instant) once the operation ended. */
  readonly onEnd: ((op: ClientOp) => void) | undefined;
}

/** Which events `ClientHistory.checked` hands to the checker. */
export interface CheckedOptions {
  /**
   * Whether the entry (index, term) is in the committed log at the end of a converged run: then
   * writes whose outcome the client never learned are resolved (see `ClientHistory.checked`).
   */
  readonly committed?: (index: number, term: number) => boolean;
  /**
   * With `committed`: whether the cas committed at `index` found its condition true, by the
   * committed log. Needed to resolve a cas the client saw no outcome of.
   */
  readonly conditionHeld?: (index: number) => boolean;
  /** Check stale reads too (default: left out, they may be stale by contract). */
  readonly includeStale?: boolean;
}

/** One event of the checked history, with the operation it belongs to. */
export interface CheckedEvent {
  readonly event: HistoryEvent;
  readonly op: ClientOp;
  /** Set when the run, not the client, decided the outcome. */
  readonly resolved: boolean;
}

interface Recorded {
  readonly op: ClientOp;
  readonly type: EventType;
  /** Virtual microseconds, strictly increasing (see `ClientHistory.stamp`). */
  readonly time: number;
}

/** Process numbers of writes whose outcome the run resolved: one each, above any client's. */
const RESOLVED_PROCESS = 1_000_000;

/**
 * Every client operation of a run as invoke/ok/fail/info events in the checker's format
 * (docs/checker.md), stamped with virtual time.
 */
export class ClientHistory {
  readonly ops: ClientOp[] = [];
  private readonly recorded: Recorded[] = [];
  private lastTime = -1;
  /** index → when some node first applied the entry there (the moment its effect became visible). */
  private readonly firstApplied = new Map<number, number>();
  private appliedThrough = 0;

  invoked(op: ClientOp, now: number): void {
    this.ops.push(op);
    this.recorded.push({ op, type: 'invoke', time: this.stamp(now) });
  }

  ended(op: ClientOp, now: number): void {
    assert(op.status !== 'open', `client-history: op ${op.id} ended without a status`);
    this.recorded.push({ op, type: op.status, time: this.stamp(now) });
  }

  /** A node applied the entry at `index` (each node applies in index order from 1). */
  applied(index: number, now: number): void {
    if (index <= this.appliedThrough) return;
    assert(
      index === this.appliedThrough + 1,
      `client-history: first apply of ${index} follows ${this.appliedThrough}`,
    );
    this.appliedThrough = index;
    this.firstApplied.set(index, this.stamp(now));
  }

  /**
   * Event times are virtual microseconds made strictly increasing: the simulator runs the events
   * of one virtual instant one after another, and that order is real-time order (the checker
   * would take equal times as concurrent, which would hide a read that began after a write ended).
   */
  private stamp(now: number): number {
    this.lastTime = Math.max(Math.round(now * 1000), this.lastTime + 1);
    return this.lastTime;
  }

  /**
   * The events the linearizability check sees, in time order, `line` numbering them from 1 (as
   * `toJsonl` writes them): all but stale reads (unless `includeStale`), which may return old
   * data by contract, and cas operations that never ran.
   *
   * With `committed`, writes whose client never learned the outcome (info, or still open) are
   * resolved from the run's committed log, which only the simulator sees. An entry that never
   * committed did not happen: a put or delete is checked as `fail`, a cas is left out. One that
   * committed took effect at the instant some node first applied it: no read can see it before
   * (reads see applied state), and every read that starts after must (it was committed by then).
   * It is checked as an operation invoked and completed at that instant, by a process of its own
   * (its client has moved on); a cas as `ok` or `fail` as its condition held there. Left unknown,
   * each such write could take effect at any moment after its call: a weaker check, and a slow
   * one, since a dozen of them pending together on one key make the search explode.
   */
  checked(options: CheckedOptions = {}): CheckedEvent[] {
    const { committed, includeStale = false } = options;
    const out: { event: Omit<HistoryEvent, 'line'>; op: ClientOp; resolved: boolean }[] = [];
    const add = (
      op: ClientOp,
      type: EventType,
      time: number,
      resolved = false,
      process = op.process,
    ): void => {
      out.push({ event: toEvent(op, type, time, process), op, resolved });
    };
    for (const r of this.recorded) {
      const op = r.op;
      if (op.consistency === 'stale' && !includeStale) continue;
      if (op.f === 'cas' && op.neverRan) continue;
      const outcome = committed === undefined ? undefined : this.resolve(op, committed, options);
      if (outcome === undefined) add(op, r.type, r.time);
      else if (outcome === 'never') {
        // A put or delete that did not happen fails; a cas that did not run is left out.
        if (op.f !== 'cas') add(op, r.type === 'invoke' ? 'invoke' : 'fail', r.time, r.type !== 'invoke');
      } else if (r.type === 'invoke') {
        add(op, 'invoke', outcome.at, true, RESOLVED_PROCESS + op.id);
        add(op, outcome.type, outcome.at, true, RESOLVED_PROCESS + op.id);
      }
    }
    // A put or delete still open at the end that never committed: it did not happen.
    for (const op of this.ops) {
      if (op.status !== 'open' || committed === undefined || op.f === 'cas') continue;
      if (this.resolve(op, committed, options) === 'never') add(op, 'fail', this.lastTime + 1, true);
    }
    out.sort((a, b) => a.event.time - b.event.time);
    return out.map((e, k) => ({ event: { ...e.event, line: k + 1 }, op: e.op, resolved: e.resolved }));
  }

  /**
   * How the run resolves a write the client saw no outcome of: 'never' (it did not take effect),
   * or when it took effect and how; undefined for reads and for writes the client saw end.
   */
  private resolve(
    op: ClientOp,
    committed: (index: number, term: number) => boolean,
    options: CheckedOptions,
  ): 'never' | { readonly at: number; readonly type: 'ok' | 'fail' } | undefined {
    if (op.f === 'get') return undefined;
    const p = op.proposed;
    const inLog = p !== undefined && committed(p.index, p.term);
    const held = inLog && op.f === 'cas' ? this.conditionHeld(op, p!.index, options) : undefined;
    // The client's own outcomes must agree with the committed log (checked on a second path).
    if (op.status === 'ok') {
      assert(inLog, `client-history: acknowledged write op ${op.id} is not committed`);
      if (op.f === 'cas') assert(held === true, `client-history: cas op ${op.id} ok, its condition failed`);
    }
    if (op.status === 'fail' && op.neverRan)
      assert(!inLog, `client-history: op ${op.id} refused, yet committed`);
    if (op.status === 'fail' && !op.neverRan) {
      assert(op.f === 'cas', `client-history: only a cas fails after it ran (op ${op.id})`);
      assert(inLog, `client-history: cas op ${op.id} failed its condition, yet is not committed`);
      assert(held === false, `client-history: cas op ${op.id} failed, its condition held`);
    }
    if (op.status !== 'info' && op.status !== 'open') return undefined;
    if (!inLog) return 'never';
    const at = this.firstApplied.get(p!.index);
    assert(at !== undefined, `client-history: committed write op ${op.id} was applied somewhere`);
    return { at, type: held === false ? 'fail' : 'ok' };
  }

  private conditionHeld(op: ClientOp, index: number, options: CheckedOptions): boolean {
    assert(options.conditionHeld !== undefined, `client-history: cas op ${op.id} needs conditionHeld`);
    return options.conditionHeld(index);
  }

  /** The checked events as JSON Lines for `flotilla check`, with node, consistency and path added. */
  toJsonl(options: CheckedOptions = {}): string {
    const lines = this.checked(options).map(({ event: e, op, resolved }) =>
      JSON.stringify({
        process: e.process,
        type: e.type,
        f: e.f,
        key: e.key,
        ...(e.value === undefined ? {} : { value: e.value }),
        ...(e.expected === undefined ? {} : { expected: e.expected }),
        time: e.time,
        node: op.node,
        ...(op.consistency === undefined ? {} : { consistency: op.consistency }),
        ...(e.type === 'ok' && op.path !== undefined ? { path: op.path } : {}),
        ...(resolved ? { resolved: `client saw ${op.status}; outcome from the committed log` } : {}),
      }),
    );
    return `${lines.join('\n')}\n`;
  }
}

function toEvent(op: ClientOp, type: EventType, time: number, process: number): Omit<HistoryEvent, 'line'> {
  const invoke = type === 'invoke';
  let value: string | null | undefined;
  if (op.f === 'put' || op.f === 'cas') value = invoke ? op.value : undefined;
  else if (op.f === 'get') value = type === 'ok' ? op.value : undefined;
  const expected = op.f === 'cas' && invoke ? op.expected : undefined;
  return { process, type, f: op.f, key: op.key, value, expected, time };
}
