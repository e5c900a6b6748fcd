import { assert } from '../raft/assert.js';
import type { SnapshotMessage } from '../raft/messages.js';
import type { NodeId, SnapshotMeta } from '../raft/types.js';
import { describeError, SnapshotAbortedError, wireText } from './errors.js';
import type { ControlFrame, SnapshotChunkFrame } from './frames.js';
import type { SnapshotHandler, TransportLogger } from './transport.js';

/** What the receiver needs from its transport. */
export interface ReceiverContext {
  handler(): SnapshotHandler | undefined;
  /** Sends a frame back to `peer` on its latest connection to us (dropped when there is none). */
  reply(peer: NodeId, frame: ControlFrame): void;
  /** Hands a snapshot message to onMessage. */
  deliver(m: SnapshotMessage): void;
  /** A transfer whose handler waits this long for a chunk is aborted. */
  readonly idleMs: number;
  /** Bytes received but not yet consumed by the handler, at most (the sender's window bounds it). */
  readonly bufferBytesMax: number;
  readonly log: TransportLogger;
}

function sameSnapshot(a: SnapshotMeta, b: { index: number; term: number }): boolean {
  return a.index === b.index && a.term === b.term;
}

/**
 * The receiving end of snapshot streams: at most one transfer per sender. Chunks feed the
 * application's SnapshotHandler; the leader's `snapshot` Raft message is held back until that
 * handler has consumed every chunk and resolved, so the core never installs a snapshot whose
 * bytes are not on this node.
 */
export class SnapshotReceiver {
  private readonly transfers = new Map<NodeId, IncomingSnapshot>();
  /**
   * The last transfer from each sender that completed, until the sender starts another: its
   * message (and any retransmission of it) is delivered at once, and a sender that missed our
   * result and resumes is told again that the data is in.
   */
  private readonly completed = new Map<NodeId, SnapshotMeta>();
  /** A snapshot message that arrived before its data was in (one per sender, the newest). */
  private readonly held = new Map<NodeId, SnapshotMessage>();

  constructor(private readonly ctx: ReceiverContext) {}

  onChunk(from: NodeId, c: SnapshotChunkFrame): void {
    let t = this.transfers.get(from);
    if (t !== undefined && !sameSnapshot(t.meta, c.meta)) {
      t.abort(`snapshot ${c.meta.index} replaced it`);
      t = undefined;
    }
    if (t === undefined) {
      t = this.begin(from, c);
      if (t === undefined) return;
    }
    t.add(c);
  }

  /** A snapshot Raft message from a peer: delivered now if its data is in, else held until it is. */
  onMessage(m: SnapshotMessage): void {
    const done = this.completed.get(m.from);
    if (done !== undefined && sameSnapshot(done, m.snapshot)) {
      this.ctx.deliver(m);
      return;
    }
    this.held.set(m.from, m);
  }

  /** Drops everything about a peer that left the configuration. */
  forget(peer: NodeId): void {
    this.transfers.get(peer)?.abort('the peer was removed');
    this.completed.delete(peer);
    this.held.delete(peer);
  }

  close(): void {
    for (const t of [...this.transfers.values()]) t.abort('the transport stopped');
    this.completed.clear();
    this.held.clear();
  }

  /** Opens a transfer for the chunk's snapshot, or answers why it cannot. */
  private begin(from: NodeId, c: SnapshotChunkFrame): IncomingSnapshot | undefined {
    // The chunk's meta carries the whole configuration (learners, outgoing voters, addresses).
    const meta = c.meta;
    const fail = (reason: string) =>
      this.ctx.reply(from, { type: 'snapshot-result', snapshotIndex: meta.index, ok: false, reason });
    const done = this.completed.get(from);
    if (done !== undefined && sameSnapshot(done, meta)) {
      // The sender missed our result (its connection dropped): the data is already here.
      this.ctx.reply(from, { type: 'snapshot-result', snapshotIndex: meta.index, ok: true, reason: '' });
      return undefined;
    }
    if (c.offset !== 0) {
      fail(
        `no transfer of snapshot ${meta.index} is in progress here (this node restarted or gave up waiting)`,
      );
      return undefined;
    }
    const handler = this.ctx.handler();
    if (handler === undefined) {
      fail('this node has no snapshot handler');
      return undefined;
    }
    this.completed.delete(from);
    const held = this.held.get(from);
    if (held !== undefined && !sameSnapshot(meta, held.snapshot)) this.held.delete(from);
    const t = new IncomingSnapshot(from, meta, {
      idleMs: this.ctx.idleMs,
      bufferBytesMax: this.ctx.bufferBytesMax,
      ack: (offset) => this.ctx.reply(from, { type: 'snapshot-ack', snapshotIndex: meta.index, offset }),
      aborted: (reason) => this.aborted(t, reason),
    });
    this.transfers.set(from, t);
    let consumed: Promise<void>;
    try {
      consumed = handler(from, meta, t.chunks);
    } catch (err) {
      consumed = Promise.reject(err);
    }
    consumed.then(
      () =>
        this.settle(t, t.drained ? undefined : 'the snapshot handler returned before reading the last chunk'),
      (err: unknown) => this.settle(t, `the snapshot handler failed: ${wireText(describeError(err))}`),
    );
    return t;
  }

  /** The handler settled: confirm the transfer (and deliver a held message) or report the failure. */
  private settle(t: IncomingSnapshot, failure: string | undefined): void {
    if (t.settled) return; // aborted earlier: already reported
    if (failure !== undefined) {
      t.abort(failure);
      return;
    }
    t.settled = true;
    this.transfers.delete(t.from);
    this.ctx.log.info(`received snapshot ${t.meta.index} from ${t.from}`);
    this.ctx.reply(t.from, { type: 'snapshot-result', snapshotIndex: t.meta.index, ok: true, reason: '' });
    this.completed.set(t.from, t.meta);
    const held = this.held.get(t.from);
    if (held !== undefined && sameSnapshot(t.meta, held.snapshot)) {
      this.held.delete(t.from);
      this.ctx.deliver(held);
    }
  }

  private aborted(t: IncomingSnapshot, reason: string): void {
    t.settled = true;
    if (this.transfers.get(t.from) === t) this.transfers.delete(t.from);
    const held = this.held.get(t.from);
    if (held !== undefined && sameSnapshot(t.meta, held.snapshot)) this.held.delete(t.from);
    this.ctx.log.warn(`snapshot ${t.meta.index} from ${t.from} aborted: ${reason}`);
    this.ctx.reply(t.from, { type: 'snapshot-result', snapshotIndex: t.meta.index, ok: false, reason });
  }
}

interface IncomingHooks {
  readonly idleMs: number;
  readonly bufferBytesMax: number;
  /** The handler has consumed bytes [0, offset). */
  ack(offset: number): void;
  aborted(reason: string): void;
}

/**
 * One transfer: chunks are queued as they arrive and handed to the handler's iterator in order.
 * A chunk counts as consumed (and is acknowledged) when the handler asks for the next one.
 * Resent bytes (after the sender resumed from an older ack) are skipped by offset.
 */
class IncomingSnapshot implements AsyncIterator<Uint8Array> {
  /** The handler finished or the transfer was aborted; the sender has been told. */
  settled = false;
  /** The handler's iterator reached the end. */
  drained = false;
  readonly chunks: AsyncIterable<Uint8Array>;
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  /** Bytes received (and queued or consumed). */
  private received = 0;
  private consumed = 0;
  /** Length of the chunk last handed out, consumed once the handler asks again. */
  private yielded = 0;
  private lastSeen = false;
  /** The handler's iterator was closed before the end. */
  private stopped = false;
  private failure: SnapshotAbortedError | undefined;
  private waiter: { resolve(r: IteratorResult<Uint8Array>): void; reject(err: Error): void } | undefined;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly from: NodeId,
    readonly meta: SnapshotMeta,
    private readonly hooks: IncomingHooks,
  ) {
    let iterated = false;
    this.chunks = {
      [Symbol.asyncIterator]: () => {
        assert(!iterated, 'snapshot chunks can be iterated once');
        iterated = true;
        return this;
      },
    };
  }

  add(c: SnapshotChunkFrame): void {
    if (this.failure !== undefined || this.stopped) return;
    if (c.offset > this.received) {
      this.abort(`a chunk at offset ${c.offset} left a gap after byte ${this.received}`);
      return;
    }
    const skip = this.received - c.offset;
    if (skip < c.data.length) {
      const data = c.data.subarray(skip);
      this.queue.push(data);
      this.queuedBytes += data.length;
      this.received += data.length;
      if (this.queuedBytes > this.hooks.bufferBytesMax) {
        this.abort(`the sender sent ${this.queuedBytes} bytes ahead of the handler, past its window`);
        return;
      }
    } else {
      // Bytes we hold already: the sender resumed from an older ack. Tell it where we are.
      this.hooks.ack(this.consumed);
    }
    if (c.last) {
      if (c.offset + c.data.length !== this.received) {
        this.abort(`the last chunk ends at byte ${c.offset + c.data.length} but ${this.received} arrived`);
        return;
      }
      this.lastSeen = true;
    }
    this.pump();
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.yielded > 0) {
      this.consumed += this.yielded;
      this.yielded = 0;
      if (this.failure === undefined) this.hooks.ack(this.consumed);
    }
    assert(this.waiter === undefined, 'snapshot chunks: next() called before the previous call resolved');
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.pump();
    });
  }

  /**
   * The handler left its loop early (a `break`, or an exception inside `for await`). Data stops
   * here; the failure is reported when the handler settles, with its own error as the reason.
   */
  return(): Promise<IteratorResult<Uint8Array>> {
    if (!this.drained) {
      this.stopped = true;
      this.queue = [];
      this.queuedBytes = 0;
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  abort(reason: string): void {
    if (this.failure !== undefined || this.settled) return;
    this.failure = new SnapshotAbortedError(this.from, this.meta.index, reason);
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.queue = [];
    this.queuedBytes = 0;
    this.hooks.aborted(reason);
    this.pump();
  }

  /** Answers a waiting next() if it can; otherwise waits for the sender, for at most idleMs. */
  private pump(): void {
    const w = this.waiter;
    if (w === undefined) return;
    if (this.failure !== undefined) {
      this.waiter = undefined;
      w.reject(this.failure);
      return;
    }
    const data = this.queue.shift();
    if (data !== undefined || this.lastSeen) {
      this.waiter = undefined;
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      if (data === undefined) {
        this.drained = true;
        w.resolve({ value: undefined, done: true });
        return;
      }
      this.queuedBytes -= data.length;
      this.yielded = data.length;
      w.resolve({ value: data, done: false });
      return;
    }
    this.idleTimer ??= setTimeout(
      () => this.abort(`no chunk arrived for ${this.hooks.idleMs} ms`),
      this.hooks.idleMs,
    );
  }
}
