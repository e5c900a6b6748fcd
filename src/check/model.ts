import type { Operation, OpName } from './history.js';

/** A canonical, hashable form of a model state: equal states must give equal keys (`Map` semantics). */
export type StateKey = string | number | boolean | null;

/**
 * A sequential specification of one key's object: the checker asks whether some order of a key's
 * operations, consistent with real time, is a legal run of this model.
 */
export interface Model<S> {
  /** Stable name, e.g. `kv`, used by the CLI's `--model`. */
  readonly name: string;
  /** The operations the model defines; others are refused before the search. */
  readonly ops: readonly OpName[];
  /** The state of a key no operation has touched. */
  init(): S;
  /**
   * The state after `op` takes effect in `state`, or `undefined` when `op` could not have happened
   * there (its observed result contradicts the state). An operation of unknown outcome never
   * contradicts: it takes effect if it can.
   */
  step(state: S, op: Operation): S | undefined;
  /** The state's hashable key. */
  key(state: S): StateKey;
  /** Words for reports, e.g. `the value is 3`. */
  describeState(state: S): string;
  /** Why `op` is malformed for this model (e.g. a non-string append), or `undefined` when it is fine. */
  validate(op: Operation): string | undefined;
}
