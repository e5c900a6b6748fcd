import type { Socket } from 'node:net';

/**
 * Encoded frames waiting for their connection's next flush: everything queued in one event-loop
 * turn leaves in one socket write. Counts bytes (for the send-queue limit) and Raft messages
 * (to count what a purge drops).
 */
export class FrameQueue {
  private frames: Uint8Array[] = [];
  bytes = 0;
  messages = 0;

  get length(): number {
    return this.frames.length;
  }

  push(frame: Uint8Array, isMessage: boolean): void {
    this.frames.push(frame);
    this.bytes += frame.length;
    if (isMessage) this.messages++;
  }

  /** Removes and returns every queued frame. */
  take(): Uint8Array[] {
    const frames = this.frames;
    this.frames = [];
    this.bytes = 0;
    this.messages = 0;
    return frames;
  }

  /** Discards everything; returns how many Raft messages were dropped. */
  clear(): number {
    const dropped = this.messages;
    this.take();
    return dropped;
  }
}

/**
 * Hands `frames` to the socket as one write: corked, so Node passes them to a single vectored
 * write (writev) instead of one syscall per frame, with no copy into a combined buffer.
 * Returns false when the socket's buffer is over its high-water mark (wait for 'drain').
 */
export function writeFrames(socket: Socket, frames: readonly Uint8Array[]): boolean {
  if (frames.length === 1) return socket.write(frames[0]!);
  socket.cork();
  let ok = true;
  for (const f of frames) ok = socket.write(f);
  socket.uncork();
  return ok;
}
