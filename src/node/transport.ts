import type { Message } from '../raft/messages.js';
import type { NodeId, SnapshotMeta } from '../raft/types.js';

/**
 * What a RaftNode needs from its network. `TcpTransport` (src/transport) provides it over TCP;
 * `LocalNetwork` connects nodes inside one process for tests and examples.
 */
export interface NodeTransport {
  /** Sends messages, routed by `to`. Best effort: Raft retransmits what is lost. */
  send(messages: readonly Message[]): void;
  onMessage(handler: (m: Message) => void): void;
  /** A request to a peer over the peer connection (a follower forwarding a write to the leader). */
  request(to: NodeId, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  onRequest(handler: (from: NodeId, payload: Uint8Array) => Promise<Uint8Array>): void;
  /** Streams a snapshot's bytes to `to`; true once the receiver holds all of them. */
  sendSnapshot(
    to: NodeId,
    meta: SnapshotMeta,
    open: (offset: number) => AsyncIterable<Uint8Array>,
  ): Promise<boolean>;
  /** Receives a snapshot's bytes; the `snapshot` message is delivered only after this resolves. */
  onSnapshot(
    handler: (from: NodeId, meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>) => Promise<void>,
  ): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}
