/**
 * Assertions that stay on in production. A Raft node that continues after an impossible state
 * corrupts data, so a broken invariant throws with the values that broke it.
 */
export class InvariantError extends Error {
  readonly code = 'ERR_INVARIANT';
  constructor(message: string) {
    super(`invariant broken: ${message}`);
    this.name = 'InvariantError';
  }
}

/** Throws an InvariantError naming `message` when `condition` is false. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}

/** Marks the end of an exhaustive switch over a discriminated union. */
export function assertNever(value: never): never {
  throw new InvariantError(`unexpected value ${JSON.stringify(value)}`);
}
