import type { Socket } from 'node:net';
import type { NodeId } from '../raft/types.js';
import { encodeFrame } from './codec.js';
import { FrameError, wireText } from './errors.js';
import { FrameQueue, writeFrames } from './frame-queue.js';
import { FrameReader } from './frame-reader.js';
import { type Frame, HANDSHAKE_FRAME_BYTES_MAX, type HandshakeFrame, PROTOCOL_VERSION } from './frames.js';
import { handshakeProblem } from './handshake.js';
import type { TransportLogger } from './transport.js';

/** What an inbound connection needs from its transport. */
export interface InboundContext {
  readonly id: NodeId;
  readonly clusterId: string;
  readonly frameBytesMax: number;
  /** Replies waiting to be written, at most; a peer that lets them pile up is disconnected. */
  readonly sendQueueBytesMax: number;
  readonly handshakeTimeoutMs: number;
  readonly log: TransportLogger;
  isPeer(id: NodeId): boolean;
  scheduleFlush(target: { flush(): void }): void;
  /** The handshake succeeded: `conn.peer` is set. */
  accepted(conn: InboundConnection): void;
  /** The handshake was refused. */
  refused(): void;
  /** The peer broke the protocol (a bad frame, a frame out of place). */
  protocolError(): void;
  /** A frame after the handshake. */
  frame(conn: InboundConnection, f: Frame): void;
  closed(conn: InboundConnection): void;
}

/**
 * A connection a peer opened to us: its outbound connection. The first frame must be a handshake
 * that names our cluster, a known peer and this node; until then frames are limited to
 * HANDSHAKE_FRAME_BYTES_MAX. After it, the peer's frames are handed to the transport and our
 * replies (responses, snapshot acks) go back here, batched once per turn like outbound frames.
 */
export class InboundConnection {
  /** Set once the handshake is accepted. */
  peer: NodeId | undefined;
  /** Requests from this connection being served. */
  requestsInflight = 0;
  readonly remote: string;
  private readonly reader = new FrameReader(HANDSHAKE_FRAME_BYTES_MAX);
  private readonly queue = new FrameQueue();
  private timer: NodeJS.Timeout | undefined;
  private refusing = false;

  constructor(
    readonly socket: Socket,
    private readonly ctx: InboundContext,
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setNoDelay(true);
    this.timer = setTimeout(
      () => this.fail(`no handshake within ${ctx.handshakeTimeoutMs} ms`),
      ctx.handshakeTimeoutMs,
    );
    socket.on('data', (chunk: Uint8Array) => this.onData(chunk));
    socket.on('drain', () => ctx.scheduleFlush(this));
    socket.on('error', (err) => ctx.log.info(`connection from ${this.describe()} failed: ${err.message}`));
    socket.on('close', () => this.onClose());
  }

  get isOpen(): boolean {
    return this.peer !== undefined && !this.socket.destroyed;
  }

  /** Queues a reply; it leaves with the others of this turn. */
  send(frame: Uint8Array): void {
    if (this.socket.destroyed) return;
    if (this.queue.bytes + this.socket.writableLength + frame.length > this.ctx.sendQueueBytesMax) {
      this.fail('the peer does not read its replies (their queue is full)');
      return;
    }
    this.queue.push(frame, false);
    this.ctx.scheduleFlush(this);
  }

  flush(): void {
    if (this.socket.destroyed || this.queue.length === 0 || this.socket.writableNeedDrain) return;
    writeFrames(this.socket, this.queue.take());
  }

  /** Closes the connection as a protocol violation: logged as a warning and counted. */
  fail(reason: string): void {
    if (this.socket.destroyed) return;
    this.ctx.protocolError();
    this.ctx.log.warn(`closed the connection from ${this.describe()}: ${reason}`);
    this.socket.destroy();
  }

  /** Closes the connection for an ordinary reason (stop, replaced by a newer connection). */
  close(reason: string): void {
    if (this.socket.destroyed) return;
    this.ctx.log.info(`closed the connection from ${this.describe()}: ${reason}`);
    this.socket.destroy();
  }

  private describe(): string {
    return this.peer === undefined ? this.remote : `${this.peer} (${this.remote})`;
  }

  private onData(chunk: Uint8Array): void {
    if (this.refusing || this.socket.destroyed) return;
    this.reader.push(chunk);
    for (;;) {
      let frame: Frame | undefined;
      try {
        frame = this.reader.next();
      } catch (err) {
        if (!(err instanceof FrameError)) throw err;
        this.fail(`a bad frame (${err.reason})`);
        return;
      }
      if (frame === undefined) return;
      if (this.peer === undefined) this.onHandshake(frame);
      else this.ctx.frame(this, frame);
      if (this.refusing || this.socket.destroyed) return;
    }
  }

  private onHandshake(f: Frame): void {
    if (f.type !== 'handshake') {
      this.fail(`a ${f.type} frame before the handshake`);
      return;
    }
    const problem = handshakeProblem(f, this.ctx);
    if (problem !== undefined) {
      this.refuse(f, problem);
      return;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    this.peer = f.from;
    this.reader.frameBytesMax = this.ctx.frameBytesMax;
    const { id, clusterId } = this.ctx;
    this.send(encodeFrame({ type: 'handshake', version: PROTOCOL_VERSION, clusterId, from: id, to: f.from }));
    this.ctx.accepted(this);
  }

  /**
   * Tells the dialler why, then closes. The handshake timer stays armed, so a peer that never
   * reads the refusal cannot hold the socket open.
   */
  private refuse(f: HandshakeFrame, reason: string): void {
    this.refusing = true;
    this.ctx.refused();
    this.ctx.log.warn(`refused a connection from ${JSON.stringify(f.from)} at ${this.remote}: ${reason}`);
    this.socket.end(encodeFrame({ type: 'refuse', reason: wireText(reason) }), () => this.socket.destroy());
  }

  private onClose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.reader.pendingBytes > 0 && !this.refusing) {
      this.ctx.log.warn(
        `the connection from ${this.describe()} closed inside a frame (${this.reader.pendingBytes} bytes of it arrived)`,
      );
    }
    this.ctx.closed(this);
  }
}
