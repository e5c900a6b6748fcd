import { assertNever } from '../raft/assert.js';
import type { Message } from '../raft/messages.js';
import type { Index, NodeId, SnapshotMeta } from '../raft/types.js';

/**
 * The wire format between Flotilla peers. Every frame, numbers little-endian:
 *
 *   offset 0  u32  length: bytes of type + body (so a frame is 4 + length bytes)
 *   offset 4  u8   type (FrameType)
 *   offset 5  …    body
 *
 * Body fields: u64 is two u32 (low word first) and must stay below 2^53, so it reads back as an
 * exact JavaScript number; a string is a u16 byte count + UTF-8; bytes that end a body ("rest")
 * run to the end of the frame. Decoding is strict and canonical: a frame is accepted only if
 * re-encoding what it decodes to gives the same bytes (booleans are 0 or 1, no trailing bytes,
 * UTF-8 well formed). docs/transport.md lists each body.
 *
 * The version lives in the handshake (PROTOCOL_VERSION): peers that speak different versions
 * refuse each other, so the other frame layouts may change between versions. The handshake's
 * own layout never changes.
 *
 * Version 2: the `snapshot` message and the `snapshot-chunk` frame carry the snapshot's whole
 * configuration (voters, learners, outgoing voters, addresses), where version 1 carried voters.
 */
export const PROTOCOL_VERSION = 2;

/** Bytes of the length and type fields. */
export const FRAME_HEADER_BYTES = 5;

/** The default limit on a whole frame (header included). */
export const FRAME_BYTES_MAX_DEFAULT = 16 * 1024 * 1024;

/** The smallest frameBytesMax a transport accepts: room for a handshake and small messages. */
export const FRAME_BYTES_MAX_MIN = 4096;

/** Frames allowed before a handshake succeeds: a stranger never makes a node buffer more. */
export const HANDSHAKE_FRAME_BYTES_MAX = 4096;

/** The handshake's first four bytes, "FLOT": a non-Flotilla client is told apart at once. */
export const HANDSHAKE_MAGIC = 0x544f_4c46;

/** The type byte of each frame. 1–31 are Raft messages, 32 and up the transport's own frames. */
export enum FrameType {
  App = 1,
  AppResp = 2,
  Heartbeat = 3,
  HeartbeatResp = 4,
  Vote = 5,
  PreVote = 6,
  VoteResp = 7,
  PreVoteResp = 8,
  Snapshot = 9,
  TimeoutNow = 10,
  Handshake = 32,
  Refuse = 33,
  RpcRequest = 34,
  RpcResponse = 35,
  RpcError = 36,
  SnapshotChunk = 37,
  SnapshotAck = 38,
  SnapshotResult = 39,
}

/** The first frame on every connection, in both directions; its layout is frozen across versions. */
export interface HandshakeFrame {
  readonly type: 'handshake';
  readonly version: number;
  readonly clusterId: string;
  readonly from: NodeId;
  readonly to: NodeId;
}

/** The accepting side's answer to a handshake it refuses, just before it closes the connection. */
export interface RefuseFrame {
  readonly type: 'refuse';
  readonly reason: string;
}

/** An application request (opaque bytes); answered on the same connection by `id`. */
export interface RpcRequestFrame {
  readonly type: 'rpc-request';
  readonly id: number;
  readonly payload: Uint8Array;
}

export interface RpcResponseFrame {
  readonly type: 'rpc-response';
  readonly id: number;
  readonly payload: Uint8Array;
}

/** The request handler failed or the request was not served; `message` says why. */
export interface RpcErrorFrame {
  readonly type: 'rpc-error';
  readonly id: number;
  readonly message: string;
}

/**
 * Snapshot bytes [offset, offset + data.length). `last` marks the end of the stream (the sender
 * sends an empty last chunk at the total size). Every chunk names the whole snapshot — its meta,
 * configuration and addresses included — so whichever chunk opens a transfer on the receiver can
 * describe it to the snapshot handler.
 */
export interface SnapshotChunkFrame {
  readonly type: 'snapshot-chunk';
  readonly meta: SnapshotMeta;
  readonly offset: number;
  readonly last: boolean;
  readonly data: Uint8Array;
}

/** The receiver's handler has consumed bytes [0, offset): the sender may resume from `offset`. */
export interface SnapshotAckFrame {
  readonly type: 'snapshot-ack';
  readonly snapshotIndex: Index;
  readonly offset: number;
}

/** How a transfer ended on the receiver: `ok` once its handler consumed every chunk and resolved. */
export interface SnapshotResultFrame {
  readonly type: 'snapshot-result';
  readonly snapshotIndex: Index;
  readonly ok: boolean;
  readonly reason: string;
}

/** The transport's own frames. */
export type ControlFrame =
  | HandshakeFrame
  | RefuseFrame
  | RpcRequestFrame
  | RpcResponseFrame
  | RpcErrorFrame
  | SnapshotChunkFrame
  | SnapshotAckFrame
  | SnapshotResultFrame;

/** Everything that travels between peers. */
export type Frame = Message | ControlFrame;

/** A string field holds at most this many UTF-8 bytes (u16 length). */
export const STRING_BYTES_MAX = 0xffff;

/** The type byte of a frame. */
export function frameTypeOf(frame: Frame): FrameType {
  switch (frame.type) {
    case 'app':
      return FrameType.App;
    case 'app-resp':
      return FrameType.AppResp;
    case 'heartbeat':
      return FrameType.Heartbeat;
    case 'heartbeat-resp':
      return FrameType.HeartbeatResp;
    case 'vote':
      return FrameType.Vote;
    case 'pre-vote':
      return FrameType.PreVote;
    case 'vote-resp':
      return FrameType.VoteResp;
    case 'pre-vote-resp':
      return FrameType.PreVoteResp;
    case 'snapshot':
      return FrameType.Snapshot;
    case 'timeout-now':
      return FrameType.TimeoutNow;
    case 'handshake':
      return FrameType.Handshake;
    case 'refuse':
      return FrameType.Refuse;
    case 'rpc-request':
      return FrameType.RpcRequest;
    case 'rpc-response':
      return FrameType.RpcResponse;
    case 'rpc-error':
      return FrameType.RpcError;
    case 'snapshot-chunk':
      return FrameType.SnapshotChunk;
    case 'snapshot-ack':
      return FrameType.SnapshotAck;
    case 'snapshot-result':
      return FrameType.SnapshotResult;
    default:
      return assertNever(frame);
  }
}
