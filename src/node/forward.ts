import { FlotillaError, NotLeaderError } from '../raft/errors.js';
import type { NodeId } from '../raft/types.js';
import { NoLeaderError, OutcomeUnknownError, OverloadedError, ProposalDroppedError } from './errors.js';
import type { MembersView } from './membership-change.js';

/** How a state machine's results cross the wire when a follower forwards a command. */
export interface ResultCodec<R> {
  encode(result: R): Uint8Array;
  decode(bytes: Uint8Array): R;
}

/** An error the leader reported for a forwarded command, when it has no class of its own here. */
export class RemoteError extends FlotillaError {
  constructor(
    override readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'RemoteError';
  }
}

const OK = 0;
const ERROR = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A forwarded command's reply: `[0] result` or `[1] u16 codeLength code u16 hintLength hint message`.
 * Errors keep their stable code, so the follower rethrows the same kind of error the leader met.
 */
export function encodeForwardReply<R>(
  reply: { result: R } | { error: Error & { code?: string } },
  codec: ResultCodec<R>,
): Uint8Array {
  if ('result' in reply) {
    const body = codec.encode(reply.result);
    const out = new Uint8Array(1 + body.length);
    out[0] = OK;
    out.set(body, 1);
    return out;
  }
  const code = encoder.encode(reply.error.code ?? 'ERR_INTERNAL');
  const hint = encoder.encode(reply.error instanceof NotLeaderError ? (reply.error.leaderHint ?? '') : '');
  const message = encoder.encode(reply.error.message);
  const out = new Uint8Array(1 + 2 + code.length + 2 + hint.length + message.length);
  const view = new DataView(out.buffer);
  out[0] = ERROR;
  view.setUint16(1, code.length);
  out.set(code, 3);
  view.setUint16(3 + code.length, hint.length);
  out.set(hint, 5 + code.length);
  out.set(message, 5 + code.length + hint.length);
  return out;
}

/** Returns the result, or throws the typed error the leader reported. */
export function decodeForwardReply<R>(bytes: Uint8Array, codec: ResultCodec<R>): R {
  if (bytes[0] === OK) return codec.decode(bytes.subarray(1));
  if (bytes[0] !== ERROR || bytes.length < 5)
    throw new RemoteError('ERR_BAD_REPLY', 'malformed reply from the leader');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const codeLength = view.getUint16(1);
  const hintLength = view.getUint16(3 + codeLength);
  const code = decoder.decode(bytes.subarray(3, 3 + codeLength));
  const hint = decoder.decode(bytes.subarray(5 + codeLength, 5 + codeLength + hintLength));
  const message = decoder.decode(bytes.subarray(5 + codeLength + hintLength));
  throw errorFromCode(code, hint, message);
}

function errorFromCode(code: string, hint: string, message: string): Error {
  switch (code) {
    case 'ERR_NOT_LEADER':
      return new NotLeaderError(hint === '' ? undefined : hint);
    case 'ERR_NO_LEADER':
      return new NoLeaderError();
    case 'ERR_OVERLOADED':
      return new OverloadedError(0);
    case 'ERR_PROPOSAL_DROPPED':
      return new ProposalDroppedError(0);
    case 'ERR_TIMEOUT':
      return new OutcomeUnknownError(`the leader reported: ${message}`);
    default:
      return new RemoteError(code, message);
  }
}

// ---- what a follower asks its leader (RaftNode.askLeader / onForward) -----------------------

/** Kinds of request a follower sends its leader over the peer connection. */
export const FORWARD_PROPOSE = 1;
export const FORWARD_READ_INDEX = 2;
export const FORWARD_TRANSFER = 3;
export const FORWARD_CONF_CHANGE = 4;
export const FORWARD_LOG_READ = 5;

/** A request to the leader: its kind, then its body. */
export function withKind(kind: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + body.length);
  out[0] = kind;
  out.set(body, 1);
  return out;
}

/** Node ids (a transfer's target and answer). */
export const idCodec: ResultCodec<NodeId> = {
  encode: (id) => new TextEncoder().encode(id),
  decode: (b) => new TextDecoder().decode(b),
};

/** The members view a configuration change answers. */
export const membersCodec: ResultCodec<MembersView> = {
  encode: (v) => new TextEncoder().encode(JSON.stringify(v)),
  decode: (b) => JSON.parse(new TextDecoder().decode(b)) as MembersView,
};

/** Log indexes (a read index, a log read's applied index). */
export const indexCodec: ResultCodec<number> = {
  encode: (n) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, n);
    return b;
  },
  decode: (b) => new DataView(b.buffer, b.byteOffset, b.byteLength).getFloat64(0),
};
