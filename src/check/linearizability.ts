import { InvariantError } from '../raft/assert.js';
import type { Operation } from './history.js';
import type { Model, StateKey } from './model.js';
import { ConfigurationCache, mix32 } from './search-cache.js';

/**
 * Limits on the search for one key. When one is reached the answer is "unknown", never "ok":
 * deciding linearizability is NP-complete, so a budget is the only honest bound.
 */
export interface Budget {
  /** Operations tried at some position of the order (each costs one model step). */
  readonly stepsMax: number;
  /** Wall-clock milliseconds, sampled every {@link TIME_SAMPLE_STEPS} steps. */
  readonly msMax: number;
  /** Explored configurations remembered; each costs about 16 bytes plus one bit per operation. */
  readonly cacheEntriesMax: number;
}

/** Generous for histories of a few hundred operations per key. */
export const DEFAULT_BUDGET: Budget = { stepsMax: 20_000_000, msMax: 10_000, cacheEntriesMax: 4_000_000 };

/** The clock is read once per this many steps. */
export const TIME_SAMPLE_STEPS = 1024;

/** Which limit of the {@link Budget} ended the search. */
export type UnknownReason = 'steps' | 'time' | 'cache';

/** What the search found for one key; operations are named by their index in the key's array. */
export type SearchOutcome<S> =
  | { readonly verdict: 'ok'; readonly order: readonly number[]; readonly steps: number }
  | {
      readonly verdict: 'violation';
      /** The longest order the search could build, and the state after it. */
      readonly prefix: readonly number[];
      readonly stateAfterPrefix: S;
      readonly steps: number;
    }
  | { readonly verdict: 'unknown'; readonly reason: UnknownReason; readonly steps: number };

/**
 * Decides whether `ops` (one key's operations) can be put in an order that respects real time
 * (an operation that returned before another was called comes first) and is a legal run of
 * `model`. Operations of unknown outcome may be placed anywhere after their call, or left out.
 *
 * The search is Wing and Gong's, with Lowe's just-in-time linearization and cache: walk a list of
 * call and return entries sorted by time; at a call, try to linearize that operation now and lift
 * its entries out of the list; at a return, the operation was not linearized before it returned,
 * so undo the latest choice.
 */
export function searchLinearization<S>(
  model: Model<S>,
  ops: readonly Operation[],
  budget: Budget,
): SearchOutcome<S> {
  return new LinearizationSearch(model, ops, budget).run();
}

class LinearizationSearch<S> {
  private readonly head: number;
  private readonly tail: number;
  /** Doubly linked list over entries: entry 2i is op i's call, 2i+1 its return. */
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly bits: Uint32Array;
  private readonly zobrist: Int32Array;
  private bitsHash = 0;
  private readonly cache: ConfigurationCache;
  private readonly states: S[] = [];
  private readonly stateIds = new Map<StateKey, number>();
  private readonly stackEntry: Int32Array;
  private readonly stackState: Int32Array;
  private depth = 0;
  private bestPrefix: number[] = [];
  private bestState = 0;
  private steps = 0;

  constructor(
    private readonly model: Model<S>,
    private readonly ops: readonly Operation[],
    private readonly budget: Budget,
  ) {
    const n = ops.length;
    this.head = 2 * n;
    this.tail = 2 * n + 1;
    this.next = new Int32Array(2 * n + 2);
    this.prev = new Int32Array(2 * n + 2);
    this.bits = new Uint32Array(Math.max(1, Math.ceil(n / 32)));
    this.zobrist = Int32Array.from({ length: n }, (_, i) => mix32(i));
    this.cache = new ConfigurationCache(n);
    this.stackEntry = new Int32Array(n);
    this.stackState = new Int32Array(n);
    this.link();
  }

  /** Links all entries in time order; at equal times calls come first (the operations overlap). */
  private link(): void {
    const time = (e: number): number => {
      const op = this.ops[e >>> 1];
      if (op === undefined) throw new InvariantError(`search: entry ${e} has no operation`);
      return (e & 1) === 0 ? op.call : op.ret;
    };
    const order = Array.from({ length: 2 * this.ops.length }, (_, e) => e);
    order.sort((a, b) => {
      const ta = time(a);
      const tb = time(b);
      if (ta !== tb) return ta < tb ? -1 : 1;
      return (a & 1) - (b & 1) || a - b;
    });
    let last = this.head;
    for (const e of order) {
      this.next[last] = e;
      this.prev[e] = last;
      last = e;
    }
    this.next[last] = this.tail;
    this.prev[this.tail] = last;
  }

  run(): SearchOutcome<S> {
    const deadline = performance.now() + this.budget.msMax;
    let state = this.intern(this.model.init());
    let entry = this.next[this.head] ?? this.tail;
    for (;;) {
      if (entry === this.tail) return this.success();
      const index = entry >>> 1;
      const op = this.ops[index];
      if (op === undefined) throw new InvariantError(`search: entry ${entry} has no operation`);
      if ((entry & 1) === 1) {
        // Returns are in time order with the unknown ones (at +∞) last, so every operation not yet
        // placed has an unknown outcome: all of them may be left out.
        if (op.outcome === 'unknown') return this.success();
        if (this.depth === 0) return this.violation();
        this.depth--;
        const undone = this.stackEntry[this.depth] ?? -1;
        state = this.stackState[this.depth] ?? -1;
        this.toggle(undone >>> 1);
        this.unlift(undone);
        entry = this.next[undone] ?? this.tail;
        continue;
      }
      if (this.steps === this.budget.stepsMax) return this.unknown('steps');
      this.steps++;
      if (this.steps % TIME_SAMPLE_STEPS === 0 && performance.now() > deadline) return this.unknown('time');
      const after = this.model.step(this.stateAt(state), op);
      const afterId = after === undefined ? -1 : this.intern(after);
      // An operation of unknown outcome that changes nothing here may as well be left out: every
      // order that continues after it also works without it, since it never has to be placed.
      const useless = afterId === state && op.outcome === 'unknown';
      if (afterId !== -1 && !useless && this.tryLinearize(index, afterId)) {
        if (this.cache.size > this.budget.cacheEntriesMax) return this.unknown('cache');
        this.stackEntry[this.depth] = entry;
        this.stackState[this.depth] = state;
        this.depth++;
        if (this.depth > this.bestPrefix.length) this.recordBest(afterId);
        state = afterId;
        this.lift(entry);
        entry = this.next[this.head] ?? this.tail;
        continue;
      }
      entry = this.next[entry] ?? this.tail;
    }
  }

  /** Marks op `index` linearized unless that configuration was explored before. */
  private tryLinearize(index: number, stateId: number): boolean {
    this.toggle(index);
    if (this.cache.add(this.bits, this.bitsHash, stateId)) return true;
    this.toggle(index);
    return false;
  }

  private toggle(index: number): void {
    const word = index >>> 5;
    this.bits[word] = (this.bits[word] ?? 0) ^ (1 << (index & 31));
    this.bitsHash ^= this.zobrist[index] ?? 0;
  }

  private lift(call: number): void {
    const { next, prev } = this;
    const ret = call | 1;
    next[prev[call]!] = next[call]!;
    prev[next[call]!] = prev[call]!;
    next[prev[ret]!] = next[ret]!;
    prev[next[ret]!] = prev[ret]!;
  }

  /** Undoes {@link lift}; entries are restored in the reverse order they were removed. */
  private unlift(call: number): void {
    const { next, prev } = this;
    const ret = call | 1;
    next[prev[ret]!] = ret;
    prev[next[ret]!] = ret;
    next[prev[call]!] = call;
    prev[next[call]!] = call;
  }

  private intern(state: S): number {
    const key = this.model.key(state);
    const known = this.stateIds.get(key);
    if (known !== undefined) return known;
    const id = this.states.length;
    this.states.push(state);
    this.stateIds.set(key, id);
    return id;
  }

  private stateAt(id: number): S {
    if (id < 0 || id >= this.states.length) {
      throw new InvariantError(`search: state id ${id} outside [0, ${this.states.length})`);
    }
    return this.states[id] as S;
  }

  private recordBest(stateId: number): void {
    this.bestPrefix = Array.from(this.stackEntry.subarray(0, this.depth), (e) => e >>> 1);
    this.bestState = stateId;
  }

  private success(): SearchOutcome<S> {
    const order = Array.from(this.stackEntry.subarray(0, this.depth), (e) => e >>> 1);
    return { verdict: 'ok', order, steps: this.steps };
  }

  private violation(): SearchOutcome<S> {
    const stateAfterPrefix = this.stateAt(this.bestPrefix.length === 0 ? 0 : this.bestState);
    return { verdict: 'violation', prefix: this.bestPrefix, stateAfterPrefix, steps: this.steps };
  }

  private unknown(reason: UnknownReason): SearchOutcome<S> {
    return { verdict: 'unknown', reason, steps: this.steps };
  }
}
