import { connect, type Socket } from 'node:net';
import type { NodeId } from '../raft/types.js';
import { type Backoff, backoffDelay } from './backoff.js';
import { encodeFrame } from './codec.js';
import { FrameError, PeerUnavailableError, RequestFailedError, RequestTimeoutError } from './errors.js';
import { FrameQueue, writeFrames } from './frame-queue.js';
import { FrameReader } from './frame-reader.js';
import { type Frame, HANDSHAKE_FRAME_BYTES_MAX, PROTOCOL_VERSION } from './frames.js';
import { handshakeProblem } from './handshake.js';
import { formatPeerAddress } from './peer-address.js';
import type { SnapshotSender } from './snapshot-sender.js';
import type { PeerAddress, PeerStats, TransportLogger } from './transport.js';

/** What a link needs from its transport. */
export interface LinkContext {
  readonly id: NodeId;
  readonly clusterId: string;
  readonly frameBytesMax: number;
  readonly sendQueueBytesMax: number;
  readonly handshakeTimeoutMs: number;
  readonly backoff: Backoff;
  readonly log: TransportLogger;
  /** Calls `flush()` once, later in this event-loop turn. */
  scheduleFlush(target: { flush(): void }): void;
  /** Registers a socket so that stop() can wait for it to close. */
  track(socket: Socket): void;
}

/**
 * - idle: no connection and nothing to send (the initial state: links open lazily);
 * - connecting: TCP connect and handshake in progress;
 * - open: handshake done, frames flow;
 * - backoff: the last attempt failed or the connection was lost; a timer retries;
 * - closed: stopped or removed, for good.
 */
export type LinkState = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';

interface PendingRequest {
  resolve(payload: Uint8Array): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * Our one outbound connection to a peer. Everything we send to the peer goes here (Raft messages,
 * requests, snapshot chunks); on it the peer sends back only replies (responses, snapshot acks).
 *
 * Invariant: the queue holds frames only while the link is not closed; whenever a connection or an
 * attempt ends, the queue is purged (queued Raft messages count as dropped, Raft retransmits) and
 * every pending request fails, so nothing queued for one connection leaks onto the next.
 */
export class OutboundLink {
  state: LinkState = 'idle';
  /** Increases each time a connection completes its handshake. */
  epoch = 0;
  /** The snapshot transfer to this peer, if one is running. */
  snapshot: SnapshotSender | undefined;
  framesReceived = 0;
  private framesSent = 0;
  private bytesSent = 0;
  private writes = 0;
  private dropped = 0;
  private reconnects = 0;
  private socket: Socket | undefined;
  /** Where `socket` was dialled (the address may have changed since). */
  private dialled: PeerAddress;
  /** `socket` is being closed because the peer moved: not a failure, no backoff. */
  private moving = false;
  private reader: FrameReader | undefined;
  private closeReason = '';
  private timer: NodeJS.Timeout | undefined;
  /** Attempts failed in a row; 0 once a handshake succeeds. */
  private failures = 0;
  private everOpen = false;
  private lastFailure = '';
  private readonly queue = new FrameQueue();
  private readonly pending = new Map<number, PendingRequest>();

  constructor(
    readonly peer: NodeId,
    private address: PeerAddress,
    private readonly ctx: LinkContext,
  ) {
    this.dialled = address;
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  get queuedBytes(): number {
    return this.queue.bytes + (this.socket?.writableLength ?? 0);
  }

  stats(inbound: boolean): PeerStats {
    return {
      connected: this.state === 'open',
      inbound,
      queuedBytes: this.queuedBytes,
      framesSent: this.framesSent,
      bytesSent: this.bytesSent,
      framesReceived: this.framesReceived,
      writes: this.writes,
      dropped: this.dropped,
      reconnects: this.reconnects,
    };
  }

  /** Queues a Raft message. When the queue is full the newest message (this one) is dropped. */
  sendMessage(frame: Uint8Array): void {
    if (this.state === 'closed' || this.queuedBytes + frame.length > this.ctx.sendQueueBytesMax) {
      this.dropped++;
      return;
    }
    this.queue.push(frame, true);
    this.kick();
  }

  /** Counts a message dropped before it reached the queue (it did not fit in a frame). */
  countDropped(): void {
    this.dropped++;
  }

  /** Queues a snapshot chunk; its sender bounds how many are outstanding, so no limit applies here. */
  sendControl(frame: Uint8Array): void {
    if (this.state === 'closed') return;
    this.queue.push(frame, false);
    this.kick();
  }

  /** Sends a request frame and waits for the reply with the same id. */
  request(id: number, frame: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.state === 'closed')
      return Promise.reject(new PeerUnavailableError(this.peer, 'the link is closed'));
    if (this.state === 'backoff') {
      return Promise.reject(
        new PeerUnavailableError(this.peer, `not connected (the last attempt failed: ${this.lastFailure})`),
      );
    }
    if (this.queuedBytes + frame.length > this.ctx.sendQueueBytesMax) {
      return Promise.reject(new PeerUnavailableError(this.peer, 'the send queue is full', false, true));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestTimeoutError(this.peer, timeoutMs));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.queue.push(frame, false);
      this.kick();
    });
  }

  /** Starts connecting if the link is idle (a snapshot transfer waits for the connection). */
  ensureConnecting(): void {
    if (this.state === 'idle') this.connect();
  }

  /** Writes everything queued as one socket write. */
  flush(): void {
    const socket = this.socket;
    // A destroyed socket (closing because the peer moved, say) awaits 'close', which purges the queue.
    if (this.state !== 'open' || socket === undefined || socket.destroyed || this.queue.length === 0) return;
    // While the socket drains, frames gather in the queue and leave together on 'drain'.
    if (socket.writableNeedDrain) return;
    const frames = this.queue.take();
    this.writes++;
    this.framesSent += frames.length;
    for (const f of frames) this.bytesSent += f.length;
    writeFrames(socket, frames);
  }

  /**
   * A new address (the peer moved, or its port became known). A connection or attempt to the old
   * one is closed — its queue purged as for any lost connection — and the link dials the new
   * address at once if a transfer waits for it, else on the next send; a backoff earned at the old
   * address is forgotten.
   */
  setAddress(address: PeerAddress): void {
    if (address.host === this.address.host && address.port === this.address.port) return;
    const from = this.address;
    this.address = address;
    if (this.state === 'closed') return;
    this.ctx.log.info(
      `peer ${this.peer} moved from ${formatPeerAddress(from)} to ${formatPeerAddress(address)}`,
    );
    this.failures = 0;
    if (this.socket !== undefined) {
      this.moving = true;
      this.fail(this.socket, `the peer moved to ${formatPeerAddress(address)}`);
    } else if (this.state === 'backoff') {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.state = 'idle';
      if (this.snapshot !== undefined) this.connect();
    }
  }

  /** Closes the link for good: the socket, timers, pending requests, a running transfer. */
  close(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.timer);
    this.timer = undefined;
    this.dropped += this.queue.clear();
    this.rejectPending(reason);
    this.snapshot?.cancel(reason);
    if (this.socket !== undefined) this.fail(this.socket, reason);
  }

  private kick(): void {
    if (this.state === 'idle') this.connect();
    else if (this.state === 'open') this.ctx.scheduleFlush(this);
  }

  private connect(): void {
    this.state = 'connecting';
    const { host, port } = this.address;
    this.dialled = this.address;
    this.moving = false;
    const socket = connect({ host, port });
    this.ctx.track(socket);
    socket.setNoDelay(true);
    this.socket = socket;
    this.reader = new FrameReader(HANDSHAKE_FRAME_BYTES_MAX);
    this.closeReason = '';
    this.timer = setTimeout(
      () => this.fail(socket, `no handshake within ${this.ctx.handshakeTimeoutMs} ms`),
      this.ctx.handshakeTimeoutMs,
    );
    socket.on('connect', () => {
      const { id, clusterId } = this.ctx;
      socket.write(
        encodeFrame({ type: 'handshake', version: PROTOCOL_VERSION, clusterId, from: id, to: this.peer }),
      );
    });
    socket.on('data', (chunk: Uint8Array) => this.onData(socket, chunk));
    socket.on('drain', () => this.ctx.scheduleFlush(this));
    socket.on('error', (err) => {
      if (this.closeReason === '') this.closeReason = err.message;
    });
    socket.on('close', () => this.onClose(socket));
  }

  private fail(socket: Socket, reason: string): void {
    if (socket.destroyed) return;
    if (this.closeReason === '') this.closeReason = reason;
    socket.destroy();
  }

  private onData(socket: Socket, chunk: Uint8Array): void {
    if (socket !== this.socket || socket.destroyed) return;
    const reader = this.reader!;
    reader.push(chunk);
    for (;;) {
      let frame: Frame | undefined;
      try {
        frame = reader.next();
      } catch (err) {
        if (!(err instanceof FrameError)) throw err;
        this.fail(socket, `the peer sent a bad frame (${err.reason})`);
        return;
      }
      if (frame === undefined) return;
      this.framesReceived++;
      if (this.state === 'connecting') this.onHandshakeReply(socket, frame);
      else this.onReply(socket, frame);
      if (socket.destroyed) return;
    }
  }

  private onHandshakeReply(socket: Socket, f: Frame): void {
    const problem =
      f.type === 'refuse'
        ? `the peer refused us: ${f.reason}`
        : f.type !== 'handshake'
          ? `the peer sent a ${f.type} frame before its handshake`
          : handshakeProblem(f, {
              clusterId: this.ctx.clusterId,
              id: this.ctx.id,
              isPeer: (id) => id === this.peer,
            });
    if (problem !== undefined) {
      this.fail(socket, f.type === 'handshake' ? `we refuse the peer's handshake: ${problem}` : problem);
      return;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    this.state = 'open';
    this.reader!.frameBytesMax = this.ctx.frameBytesMax;
    this.failures = 0;
    if (this.everOpen) this.reconnects++;
    this.everOpen = true;
    this.epoch++;
    this.ctx.log.info(`connected to ${this.peer} at ${formatPeerAddress(this.dialled)}`);
    this.snapshot?.onLinkChange(false);
    this.ctx.scheduleFlush(this);
  }

  private onReply(socket: Socket, f: Frame): void {
    switch (f.type) {
      case 'rpc-response':
      case 'rpc-error': {
        const p = this.pending.get(f.id);
        if (p === undefined) return; // timed out already
        this.pending.delete(f.id);
        clearTimeout(p.timer);
        if (f.type === 'rpc-response') p.resolve(f.payload);
        else p.reject(new RequestFailedError(this.peer, f.message));
        return;
      }
      case 'snapshot-ack':
        this.snapshot?.onAck(f);
        return;
      case 'snapshot-result':
        this.snapshot?.onResult(f);
        return;
      default:
        // Raft messages and requests travel on the peer's own outbound connection, never back on ours.
        this.fail(socket, `the peer sent a ${f.type} frame on our connection`);
    }
  }

  private onClose(socket: Socket): void {
    if (socket !== this.socket) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.socket = undefined;
    this.reader = undefined;
    const wasOpen = this.state === 'open';
    const reason = this.closeReason === '' ? 'the peer closed the connection' : this.closeReason;
    this.dropped += this.queue.clear();
    this.rejectPending(
      wasOpen
        ? `the connection was lost (${reason}); a request already sent may or may not have been executed`
        : `could not connect (${reason})`,
      wasOpen,
    );
    if (this.state === 'closed') return;
    if (this.moving) {
      this.moving = false;
      this.state = 'idle';
      this.snapshot?.onLinkChange(true);
      if (this.snapshot !== undefined) this.connect();
      return;
    }
    const where = formatPeerAddress(this.dialled);
    const message = wasOpen
      ? `connection to ${this.peer} at ${where} lost: ${reason}`
      : `could not connect to ${this.peer} at ${where}: ${reason}`;
    // The first failure of a streak is a warning; the retries that follow are routine.
    if (wasOpen || this.failures === 0) this.ctx.log.warn(message);
    else this.ctx.log.info(message);
    this.failures++;
    this.lastFailure = reason;
    this.state = 'backoff';
    this.timer = setTimeout(() => this.retry(), backoffDelay(this.failures, this.ctx.backoff, Math.random));
    this.snapshot?.onLinkChange(true);
  }

  private retry(): void {
    this.timer = undefined;
    if (this.state !== 'backoff') return;
    if (this.queue.length > 0 || this.snapshot !== undefined) this.connect();
    else this.state = 'idle';
  }

  /**
   * Fails the requests waiting for an answer. Requests are written only once the handshake is
   * done: on a link that never opened none left, so none can have been executed (`maybeDelivered`
   * false: the caller may say "never done"); on a lost open link they may have been.
   */
  private rejectPending(reason: string, maybeDelivered = true): void {
    if (this.pending.size === 0) return;
    const err = new PeerUnavailableError(this.peer, reason, maybeDelivered);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }
}
