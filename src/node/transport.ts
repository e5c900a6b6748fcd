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
  /**
   * Adds a peer or moves it to a new address ("host:port", "[::1]:7101" for IPv6), reconnecting
   * there. Optional: a transport that routes by id alone (LocalNetwork) needs no addresses.
   */
  setPeer?(id: NodeId, address: string): void;
  /**
   * Forgets a peer that left the configuration: its connections close, what was queued for it is
   * discarded, later messages to it are dropped quietly and it can no longer connect to this node.
   */
  removePeer?(id: NodeId): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}
