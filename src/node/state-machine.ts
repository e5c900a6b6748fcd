import type { Index } from '../raft/types.js';

/**
 * What a RaftNode replicates: any deterministic state machine. The node applies committed
 * commands in log order on every member, so every member's state is the same at each index.
 *
 * Rules an implementation must keep:
 * - `apply` is deterministic: its result and its effect depend only on the state and the command
 *   (no clock, no randomness, no I/O whose outcome can differ between members).
 * - `apply` never throws for a malformed command; it returns an error result instead (a command
 *   that made it into the log must be applied identically everywhere).
 * - `snapshot()` captures the state as of the last applied index *synchronously* (before it
 *   returns) and may then stream it lazily: applies that happen while the stream is read must not
 *   change what it yields.
 */
export interface StateMachine<Result = unknown> {
  /** Applies one committed command at `index`; the result resolves the proposer's promise. */
  apply(command: Uint8Array, index: Index): Result;
  /** The state as of the last applied index, as a stream of chunks (bounded memory). */
  snapshot(): AsyncIterable<Uint8Array>;
  /** Replaces the whole state with a snapshot's chunks (as `snapshot()` produced them). */
  restore(chunks: AsyncIterable<Uint8Array>): Promise<void>;
}
