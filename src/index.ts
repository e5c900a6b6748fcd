/**
 * Flotilla's public entry point (`flotilla`): everything a program needs to replicate its own
 * state machine with `RaftNode` (docs/library.md) — the node, its storage and transports, the
 * errors it rejects with — and the pure Raft core for those who drive `RawNode` themselves.
 *
 * `flotilla/core` is the pure core alone (no `node:*` module, no timers, no I/O); the HTTP
 * client is `flotilla/client`.
 */

// ---- the host loop and the contract a replicated state machine keeps ----------------------
export {
  NoLeaderError,
  OutcomeUnknownError,
  OverloadedError,
  ProposalDroppedError,
  StoppedError,
} from './node/errors.js';
export { RemoteError, type ResultCodec } from './node/forward.js';
export { LocalNetwork } from './node/local-network.js';
export type { MembershipChange, MembersView, MemberView } from './node/membership-change.js';
export type { NodeMetrics } from './node/node-metrics.js';
export { type NodeLogger, type NodeStatus, RaftNode, type RaftNodeOptions } from './node/raft-node.js';
export type { StateMachine } from './node/state-machine.js';
export type { NodeTransport } from './node/transport.js';
export * from './raft/index.js';

// ---- storage ------------------------------------------------------------------------------
export { DataDirLockedError } from './storage/dir-lock.js';
export { DurableStorage, type DurableStorageOptions } from './storage/durable-storage.js';
export { MemoryStorage } from './storage/memory-storage.js';
export { MemoryNodeStorage, type NodeStorage, type SnapshotSink } from './storage/node-storage.js';
export { SnapshotCorruptionError } from './storage/snapshot/errors.js';
export { FsyncFailedError, WalCorruptionError, WalWriteError } from './storage/wal/errors.js';
export type { WalSyncMode } from './storage/wal/wal.js';

// ---- the TCP transport between nodes --------------------------------------------------------
export {
  PeerUnavailableError,
  RequestFailedError,
  RequestTimeoutError,
  SnapshotAbortedError,
} from './transport/errors.js';
export { formatPeerAddress, parsePeerAddress } from './transport/peer-address.js';
export { TcpTransport, type TcpTransportOptions } from './transport/tcp-transport.js';
export type { PeerAddress, TransportLogger } from './transport/transport.js';
