import { Buffer } from 'node:buffer';
import { decodeFrame, frameSize } from './codec.js';
import type { Frame } from './frames.js';

/**
 * Cuts a byte stream (socket chunks of any size) into frames. A frame that lies inside one chunk
 * is decoded in place, so its byte fields are views of that chunk; a frame split across chunks is
 * copied once into a buffer of its exact size. The size limit is checked on the length field,
 * before anything is buffered, so a peer cannot make the reader hold more than one frame's worth
 * beyond what it has already sent.
 */
export class FrameReader {
  private readonly chunks: Uint8Array[] = [];
  /** Read position in chunks[0]. */
  private head = 0;
  /** Unread bytes in `chunks`. */
  private buffered = 0;
  /** A frame being assembled from several chunks, and how much of it is filled. */
  private partial: Uint8Array | undefined;
  private filled = 0;

  /** The limit applied to the next length field; raised once a connection is trusted. */
  constructor(public frameBytesMax: number) {}

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** Bytes received that do not yet form a whole frame. */
  get pendingBytes(): number {
    return this.buffered + this.filled;
  }

  /** The next whole frame, or undefined until more bytes arrive. Throws FrameError. */
  next(): Frame | undefined {
    if (this.partial === undefined) {
      if (this.buffered < 4) return undefined;
      const size = frameSize(this.peekLength(), this.frameBytesMax);
      const first = this.chunks[0]!;
      if (first.length - this.head >= size) {
        const bytes = first.subarray(this.head, this.head + size);
        this.skip(size);
        return decodeFrame(bytes, this.frameBytesMax);
      }
      this.partial = Buffer.allocUnsafe(size);
      this.filled = 0;
    }
    const frame = this.partial;
    while (this.filled < frame.length && this.chunks.length > 0) {
      const first = this.chunks[0]!;
      const n = Math.min(frame.length - this.filled, first.length - this.head);
      frame.set(first.subarray(this.head, this.head + n), this.filled);
      this.filled += n;
      this.skip(n);
    }
    if (this.filled < frame.length) return undefined;
    this.partial = undefined;
    this.filled = 0;
    return decodeFrame(frame, this.frameBytesMax);
  }

  /** The u32 length field at the read position, which may straddle chunks. */
  private peekLength(): number {
    let n = 0;
    let k = 0;
    let at = this.head;
    for (let got = 0; got < 4; got++) {
      let chunk = this.chunks[k]!;
      if (at === chunk.length) {
        chunk = this.chunks[++k]!;
        at = 0;
      }
      n += chunk[at++]! * 2 ** (8 * got);
    }
    return n;
  }

  private skip(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const first = this.chunks[0]!;
      const take = Math.min(n, first.length - this.head);
      this.head += take;
      n -= take;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
  }
}
