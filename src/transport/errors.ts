import { FlotillaError } from '../raft/errors.js';
import type { NodeId } from '../raft/types.js';

/**
 * A frame is malformed, truncated or larger than the frame limit. Decoding throws nothing else.
 * On a connection it means the peer's bytes cannot be trusted: the connection is closed.
 */
export class FrameError extends FlotillaError {
  override readonly code = 'ERR_BAD_FRAME';
  constructor(readonly reason: string) {
    super(
      `bad frame: ${reason}. Check that every node runs the same Flotilla version and the same ` +
        'frameBytesMax, and that nothing but Flotilla peers connects to the peer port',
    );
    this.name = 'FrameError';
  }
}

/**
 * The peer cannot be reached now: no connection (it is down, or the last attempt failed), the
 * connection was lost, or the send queue is full. When it is raised for a request that was already
 * sent, the outcome is unknown: the peer may or may not have executed it.
 */
export class PeerUnavailableError extends FlotillaError {
  override readonly code = 'ERR_PEER_UNAVAILABLE';
  constructor(
    readonly peer: NodeId,
    readonly reason: string,
    /** The request may have reached the peer (the connection was lost after it was queued). */
    readonly maybeDelivered = false,
    /** The link is up but its send queue is full: the peer is slow, not gone (back off). */
    readonly queueFull = false,
  ) {
    super(`peer ${peer} is unavailable: ${reason}; retry later or ask another node`);
    this.name = 'PeerUnavailableError';
  }
}

/** No response arrived in time. The peer may still execute the request: the outcome is unknown. */
export class RequestTimeoutError extends FlotillaError {
  override readonly code = 'ERR_TIMEOUT';
  constructor(
    readonly peer: NodeId,
    readonly timeoutMs: number,
  ) {
    super(
      `no response from peer ${peer} within ${timeoutMs} ms; the request may or may not have taken ` +
        'effect, so retry it only if it is idempotent (or carries a request id the peer deduplicates)',
    );
    this.name = 'RequestTimeoutError';
  }
}

/** The peer's request handler failed (or it has none); `remoteMessage` is what it reported. */
export class RequestFailedError extends FlotillaError {
  override readonly code = 'ERR_REQUEST_FAILED';
  constructor(
    readonly peer: NodeId,
    readonly remoteMessage: string,
  ) {
    super(`peer ${peer} could not serve the request: ${remoteMessage}`);
    this.name = 'RequestFailedError';
  }
}

/**
 * Thrown into a snapshot handler's chunk stream when the transfer ends before its last chunk: the
 * sender gave up or went quiet, a newer snapshot replaced it, or the transport stopped. The
 * handler should discard what it wrote; the leader sends the snapshot again.
 */
export class SnapshotAbortedError extends FlotillaError {
  override readonly code = 'ERR_SNAPSHOT_ABORTED';
  constructor(
    readonly peer: NodeId,
    readonly snapshotIndex: number,
    readonly reason: string,
  ) {
    super(
      `the transfer of snapshot ${snapshotIndex} from ${peer} was aborted: ${reason}; discard the ` +
        'partial data, the leader will send the snapshot again',
    );
    this.name = 'SnapshotAbortedError';
  }
}

/** A description of a thrown value, for logs and error frames. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

const LONE_SURROGATES = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text that came from an application (a handler's error message) made fit for a string field:
 * at most `charsMax` characters, lone surrogates replaced, so encoding it can never fail.
 */
export function wireText(s: string, charsMax = 1000): string {
  let clipped = s.length <= charsMax ? s : `${s.slice(0, charsMax)}…`;
  clipped = clipped.replace(LONE_SURROGATES, '\uFFFD');
  return clipped;
}
