/** A Raft term (§5.1). Branded so that a term is never passed where an index belongs. */
export type Term = number & { readonly __brand: 'Term' };
/** A log index; the first entry has index 1, index 0 is the empty log's sentinel. */
export type Index = number & { readonly __brand: 'Index' };
/** A node's identity within its cluster. */
export type NodeId = string;

/** Marks "no node" for vote and leader fields. */
export const NONE: NodeId = '';

export const term = (n: number): Term => n as Term;
export const index = (n: number): Index => n as Index;

/** What an entry carries. `Empty` is the no-op a new leader appends in its term (§5.4.2). */
export enum EntryKind {
  Normal = 0,
  Empty = 1,
  /** A new cluster configuration (thesis §4.3); takes effect when appended. */
  Config = 2,
}

/** A log entry. `data` is an opaque byte slice owned by the state machine. */
export interface Entry {
  readonly term: Term;
  readonly index: Index;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

/**
 * What identifies a snapshot: the last index and term it covers and the voters at that point.
 * The state machine's bytes travel outside the core (the host streams them in chunks).
 */
export interface SnapshotMeta {
  readonly index: Index;
  readonly term: Term;
  readonly voters: readonly NodeId[];
  /** Non-voting members at the snapshot's index (absent: none). */
  readonly learners?: readonly NodeId[];
  /** The old voters, when the snapshot falls inside a joint configuration (absent: none). */
  readonly outgoing?: readonly NodeId[];
  /** The members' addresses, carried for the host (see Membership.addresses; absent: none known). */
  readonly addresses?: Readonly<Record<NodeId, string>>;
}

/** The state that must be on stable storage before any message that depends on it is sent. */
export interface HardState {
  readonly term: Term;
  readonly vote: NodeId;
  readonly commit: Index;
}

export const EMPTY_DATA = new Uint8Array(0);

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** Roles of a Raft node. A pre-candidate runs a PreVote round (thesis §9.6) before a real election. */
export enum Role {
  Follower = 'follower',
  PreCandidate = 'pre-candidate',
  Candidate = 'candidate',
  Leader = 'leader',
}

/** The seeded random source the host injects; the core never draws randomness of its own. */
export interface Rng {
  /** A uniformly distributed integer in [0, n). */
  nextInt(n: number): number;
}
