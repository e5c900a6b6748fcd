/** Flotilla's peer transport: the binary codec and TCP connections between nodes. */
export { type Backoff, backoffDelay } from './backoff.js';
export { decodeFrame, encodeFrame } from './codec.js';
export {
  FrameError,
  PeerUnavailableError,
  RequestFailedError,
  RequestTimeoutError,
  SnapshotAbortedError,
} from './errors.js';
export { FrameReader } from './frame-reader.js';
export {
  type ControlFrame,
  FRAME_BYTES_MAX_DEFAULT,
  FRAME_HEADER_BYTES,
  type Frame,
  FrameType,
  type HandshakeFrame,
  PROTOCOL_VERSION,
  type RefuseFrame,
  type RpcErrorFrame,
  type RpcRequestFrame,
  type RpcResponseFrame,
  type SnapshotAckFrame,
  type SnapshotChunkFrame,
  type SnapshotResultFrame,
} from './frames.js';
export { formatPeerAddress, parsePeerAddress } from './peer-address.js';
export { TcpTransport, type TcpTransportOptions } from './tcp-transport.js';
export type * from './transport.js';
