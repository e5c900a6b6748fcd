import type { SnapshotMeta } from '../raft/types.js';
import { EMPTY_DATA } from '../raft/types.js';
import { encodeFrame } from './codec.js';
import { describeError, FrameError } from './errors.js';
import type { SnapshotAckFrame, SnapshotChunkFrame, SnapshotResultFrame } from './frames.js';
import type { SnapshotSource, TransportLogger } from './transport.js';

/** What a transfer needs from the outbound link it runs on. */
export interface SenderLink {
  readonly peer: string;
  readonly isOpen: boolean;
  /** Increases with each new connection: chunks queued on an older one are gone. */
  readonly epoch: number;
  ensureConnecting(): void;
  sendControl(frame: Uint8Array): void;
}

export interface SnapshotSendOptions {
  /** Data bytes per chunk frame (lowered to fit frameBytesMax). */
  readonly chunkBytesMax: number;
  /** Chunks sent but not yet acknowledged, at most. */
  readonly chunksInflightMax: number;
  /** Connection failures tolerated during one transfer before it gives up. */
  readonly retriesMax: number;
  /** The transfer gives up when nothing moves (no ack, no connection) for this long. */
  readonly idleMs: number;
  readonly frameBytesMax: number;
  readonly log: TransportLogger;
}

/**
 * One snapshot stream to one peer. Chunks go out while fewer than `chunksInflightMax` are
 * unacknowledged; the receiver acknowledges the bytes its handler has consumed. When the
 * connection is lost, the transfer waits for the link to reconnect and calls `open(acked)` again:
 * it resumes from the last acknowledged offset, and the receiver skips whatever it already holds.
 * It ends when the receiver reports the result (after its handler resolved), or fails after
 * `retriesMax` connection failures, `idleMs` without progress, or a cancel.
 *
 * Memory: at most one piece from `open` plus `chunksInflightMax` chunk frames.
 */
export class SnapshotSender {
  private acked = 0;
  /** End offsets of the chunks sent on this connection and not yet acknowledged. */
  private readonly inflight: number[] = [];
  private result: boolean | undefined;
  private failure: string | undefined;
  private losses = 0;
  private waiter: (() => void) | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly chunkBytes: number;

  constructor(
    private readonly link: SenderLink,
    readonly meta: SnapshotMeta,
    private readonly open: SnapshotSource,
    private readonly opts: SnapshotSendOptions,
  ) {
    // Every chunk repeats the meta, configuration and addresses included: they take from the data.
    const overhead = encodeFrame(this.chunk(0, true, EMPTY_DATA), opts.frameBytesMax).length;
    this.chunkBytes = Math.min(opts.chunkBytesMax, opts.frameBytesMax - overhead);
    if (this.chunkBytes < 1) {
      throw new FrameError(
        `snapshot ${meta.index}'s configuration (${overhead} bytes with the chunk header) leaves no room for data in a frame of ${opts.frameBytesMax} bytes`,
      );
    }
  }

  onAck(f: SnapshotAckFrame): void {
    if (f.snapshotIndex !== this.meta.index) return;
    if (f.offset > this.acked) this.acked = f.offset;
    while (this.inflight.length > 0 && this.inflight[0]! <= f.offset) this.inflight.shift();
    this.armIdle();
    this.wake();
  }

  onResult(f: SnapshotResultFrame): void {
    if (f.snapshotIndex !== this.meta.index || this.result !== undefined) return;
    this.result = f.ok;
    if (!f.ok) this.opts.log.warn(`${this.link.peer} did not take snapshot ${this.meta.index}: ${f.reason}`);
    this.wake();
  }

  /** The link connected (`lost` false) or lost its connection or an attempt (`lost` true). */
  onLinkChange(lost: boolean): void {
    if (lost && ++this.losses > this.opts.retriesMax) {
      this.cancel(`the connection failed ${this.losses} times`);
      return;
    }
    if (!lost) this.armIdle();
    this.wake();
  }

  cancel(reason: string): void {
    if (this.failure === undefined) this.failure = reason;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.wake();
  }

  /** Resolves true when the receiver confirmed the whole snapshot, false when the transfer failed. */
  async run(): Promise<boolean> {
    this.armIdle();
    try {
      for (;;) {
        if (this.result !== undefined) return this.result;
        if (this.failure !== undefined) {
          this.opts.log.warn(
            `gave up sending snapshot ${this.meta.index} to ${this.link.peer}: ${this.failure}`,
          );
          return false;
        }
        if (this.link.isOpen) {
          await this.stream(this.link.epoch);
        } else {
          this.link.ensureConnecting();
          await this.wait();
        }
      }
    } finally {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
  }

  /** Streams from the last acknowledged offset while the connection of `epoch` lasts. */
  private async stream(epoch: number): Promise<void> {
    const live = () =>
      this.link.epoch === epoch &&
      this.link.isOpen &&
      this.failure === undefined &&
      this.result === undefined;
    this.inflight.length = 0;
    let offset = this.acked;
    const source = this.open(offset)[Symbol.asyncIterator]();
    let exhausted = false;
    try {
      for (;;) {
        const r = await source.next();
        if (r.done === true) {
          exhausted = true;
          break;
        }
        if (!live()) return;
        let piece = r.value;
        while (piece.length > 0) {
          while (live() && this.inflight.length >= this.opts.chunksInflightMax) await this.wait();
          if (!live()) return;
          const data = piece.subarray(0, this.chunkBytes);
          piece = piece.subarray(data.length);
          this.link.sendControl(encodeFrame(this.chunk(offset, false, data), this.opts.frameBytesMax));
          offset += data.length;
          this.inflight.push(offset);
        }
      }
      if (!live()) return;
      this.link.sendControl(encodeFrame(this.chunk(offset, true, EMPTY_DATA), this.opts.frameBytesMax));
      while (live()) await this.wait();
    } finally {
      if (!exhausted) await this.closeSource(source);
    }
  }

  private chunk(offset: number, last: boolean, data: Uint8Array): SnapshotChunkFrame {
    return { type: 'snapshot-chunk', meta: this.meta, offset, last, data };
  }

  private async closeSource(source: AsyncIterator<Uint8Array>): Promise<void> {
    try {
      await source.return?.();
    } catch (err) {
      this.opts.log.warn(`closing the snapshot source for ${this.link.peer} failed: ${describeError(err)}`);
    }
  }

  private wait(): Promise<void> {
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private armIdle(): void {
    if (this.failure !== undefined) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(
      () => this.cancel(`no progress for ${this.opts.idleMs} ms`),
      this.opts.idleMs,
    );
  }
}
