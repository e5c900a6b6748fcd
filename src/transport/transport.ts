import type { Message } from '../raft/messages.js';
import type { NodeId, SnapshotMeta } from '../raft/types.js';

/** Where a node listens for its peers. */
export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}

/** Where the transport reports connections made, lost and refused, and bad frames. */
export interface TransportLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Receives every Raft message addressed to this node, in the order each peer sent them. */
export type MessageHandler = (m: Message) => void;

/**
 * Serves an application request from a peer (a follower forwarding a client write, say). The
 * resolved bytes go back to the requester; a rejection reaches it as a RequestFailedError.
 */
export type RequestHandler = (from: NodeId, payload: Uint8Array) => Promise<Uint8Array>;

/**
 * Receives a snapshot's bytes as they arrive (write them to a file). Resolve once every chunk is
 * consumed and durable: only then does the transport confirm the transfer to the sender and
 * deliver the leader's `snapshot` message to onMessage. When the stream throws a
 * SnapshotAbortedError, discard the partial data and reject.
 */
export type SnapshotHandler = (
  from: NodeId,
  meta: SnapshotMeta,
  chunks: AsyncIterable<Uint8Array>,
) => Promise<void>;

/** The snapshot's bytes from byte `offset` on (0 for a new transfer, more when resuming). */
export type SnapshotSource = (offset: number) => AsyncIterable<Uint8Array>;

/** Counters for one peer. */
export interface PeerStats {
  /** Our outbound connection to the peer has completed its handshake. */
  readonly connected: boolean;
  /** The peer's connection to us has completed its handshake. */
  readonly inbound: boolean;
  /** Bytes waiting to be sent: our queue plus what the socket has not yet written. */
  readonly queuedBytes: number;
  readonly framesSent: number;
  /** Bytes of the frames sent on our connection (headers included). */
  readonly bytesSent: number;
  readonly framesReceived: number;
  /** Socket writes of queued frames: one per flush, however many frames it carried. */
  readonly writes: number;
  /** Raft messages dropped: the send queue was full, or the connection was lost before they left. */
  readonly dropped: number;
  /** Connections established again after an earlier one failed or was lost. */
  readonly reconnects: number;
}

export interface TransportStats {
  readonly peers: Readonly<Record<NodeId, PeerStats>>;
  /** Inbound connections refused at the handshake (wrong cluster, unknown node, wrong address). */
  readonly refused: number;
  /** Inbound connections closed for a bad frame or a protocol violation. */
  readonly protocolErrors: number;
}

/**
 * What the node host needs from a network: Raft messages one way (best effort, in order per
 * peer), requests with replies, and snapshot streams.
 */
export interface Transport {
  start(): Promise<void>;
  /** Closes every connection and timer; pending requests fail, transfers end. */
  stop(): Promise<void>;
  /** Queues messages by `m.to`; never blocks and never throws for a network reason (Raft retransmits). */
  send(messages: readonly Message[]): void;
  onMessage(handler: MessageHandler): void;
  /**
   * Sends `payload` to `to` and resolves with its reply. Rejects with PeerUnavailableError,
   * RequestTimeoutError or RequestFailedError; after the first two the outcome is unknown.
   */
  request(to: NodeId, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  onRequest(handler: RequestHandler): void;
  /** Streams a snapshot's bytes; true once the receiver's handler has consumed all of them. */
  sendSnapshot(to: NodeId, meta: SnapshotMeta, open: SnapshotSource): Promise<boolean>;
  onSnapshot(handler: SnapshotHandler): void;
  /**
   * Adds a peer, or moves one to a new address and reconnects there. The address is
   * `{ host, port }` or a "host:port" string ("[::1]:7101" for IPv6). Throws ConfigError for an
   * invalid address.
   */
  setPeer(id: NodeId, address: PeerAddress | string): void;
  /**
   * Forgets a peer that left the configuration: both connections close, what was queued for it
   * is discarded, its handshakes are refused from now on and later messages to it are dropped
   * quietly.
   */
  removePeer(id: NodeId): void;
  stats(): TransportStats;
}
