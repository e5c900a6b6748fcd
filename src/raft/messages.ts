import type { Entry, Index, NodeId, SnapshotMeta, Term } from './types.js';

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's current term (a PreVote request carries the term it would campaign in). */
  readonly term: Term;
}

/** AppendEntries request (§5.3). */
export interface AppendMessage extends Envelope {
  readonly type: 'app';
  readonly prevIndex: Index;
  readonly prevTerm: Term;
  readonly entries: readonly Entry[];
  readonly commit: Index;
}

/**
 * AppendEntries reply. On success `index` is the last index the follower now matches. On
 * rejection `index` is the rejected `prevIndex`, and the hint lets the leader skip a whole term
 * per round trip (§5.3): `hintTerm` is the follower's term at `prevIndex` (0 when its log is
 * shorter) and `hintIndex` the first index the follower holds for that term (or its last index + 1).
 */
export interface AppendResponseMessage extends Envelope {
  readonly type: 'app-resp';
  readonly index: Index;
  readonly reject: boolean;
  readonly hintIndex: Index;
  readonly hintTerm: Term;
}

/** Heartbeat: an empty AppendEntries that carries a commit index the follower is known to hold. */
export interface HeartbeatMessage extends Envelope {
  readonly type: 'heartbeat';
  readonly commit: Index;
  /** The newest ReadIndex round this heartbeat confirms (0: none), echoed by the reply. */
  readonly context: number;
}

export interface HeartbeatResponseMessage extends Envelope {
  readonly type: 'heartbeat-resp';
  readonly context: number;
}

/** RequestVote (§5.2) or its PreVote rehearsal (thesis §9.6). */
export interface VoteMessage extends Envelope {
  readonly type: 'vote' | 'pre-vote';
  readonly lastIndex: Index;
  readonly lastTerm: Term;
  /**
   * The election was started by the leader's TimeoutNow (thesis §3.10): voters answer it even
   * though they heard from that leader within the election timeout.
   */
  readonly transfer: boolean;
}

export interface VoteResponseMessage extends Envelope {
  readonly type: 'vote-resp' | 'pre-vote-resp';
  readonly reject: boolean;
}

/**
 * InstallSnapshot (§7): the follower needs entries the leader has compacted away. The core sends
 * only the snapshot's identity; the host streams the state machine's bytes alongside (in chunks,
 * resumable) and steps this message into the follower's core once all of them have arrived.
 * The follower answers with an AppendEntries reply (`index` = the snapshot's index).
 */
export interface SnapshotMessage extends Envelope {
  readonly type: 'snapshot';
  readonly snapshot: SnapshotMeta;
}

/** Leadership transfer (thesis §3.10): the leader tells an up-to-date follower to campaign now. */
export interface TimeoutNowMessage extends Envelope {
  readonly type: 'timeout-now';
}

/** Every message the core sends or receives. */
export type Message =
  | AppendMessage
  | AppendResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | SnapshotMessage
  | TimeoutNowMessage
  | VoteMessage
  | VoteResponseMessage;

export type MessageType = Message['type'];

/**
 * Messages a leader sends that depend on nothing unpersisted: it may send them while its own
 * append is still being written (thesis §10.2.1). Everything else waits for persistence.
 */
export function sendableBeforePersist(m: Message): boolean {
  return m.type === 'app' || m.type === 'heartbeat' || m.type === 'snapshot' || m.type === 'timeout-now';
}

/** Entries follow prevIndex one by one, in terms that never decrease and never pass the sender's. */
export function appendWellFormed(m: AppendMessage): boolean {
  let t = m.prevTerm;
  for (let k = 0; k < m.entries.length; k++) {
    const e = m.entries[k]!;
    if (e.index !== m.prevIndex + 1 + k || e.term < t || e.term > m.term) return false;
    t = e.term;
  }
  return m.prevTerm <= m.term;
}
