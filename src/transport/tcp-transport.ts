import type { AddressInfo, Server, Socket } from 'node:net';
import { createServer } from 'node:net';
import { assert, assertNever, InvariantError } from '../raft/assert.js';
import { ConfigError } from '../raft/errors.js';
import type { Message } from '../raft/messages.js';
import type { NodeId, SnapshotMeta } from '../raft/types.js';
import { BACKOFF_DEFAULT, type Backoff } from './backoff.js';
import { encodeFrame } from './codec.js';
import { describeError, FrameError, PeerUnavailableError, wireText } from './errors.js';
import { FRAME_BYTES_MAX_DEFAULT, FRAME_BYTES_MAX_MIN, type Frame, type RpcRequestFrame } from './frames.js';
import { InboundConnection, type InboundContext } from './inbound-connection.js';
import { type LinkContext, OutboundLink } from './outbound-link.js';
import { parsePeerAddress } from './peer-address.js';
import { SnapshotReceiver } from './snapshot-receiver.js';
import { SnapshotSender } from './snapshot-sender.js';
import type {
  MessageHandler,
  PeerAddress,
  PeerStats,
  RequestHandler,
  SnapshotHandler,
  SnapshotSource,
  Transport,
  TransportLogger,
  TransportStats,
} from './transport.js';

export interface TcpTransportOptions {
  /** Peers must present the same cluster id in their handshake. */
  readonly clusterId: string;
  readonly id: NodeId;
  /** Port 0 picks a free port; read it back with address() after start(). */
  readonly listen: PeerAddress;
  /** Other members (an entry for this node itself is ignored). More can be added with setPeer(). */
  readonly peers: ReadonlyMap<NodeId, PeerAddress> | Readonly<Record<NodeId, PeerAddress>>;
  /** Bytes queued per peer (ours plus the socket's buffer) before new messages are dropped. Default 64 MiB. */
  readonly sendQueueBytesMax?: number;
  /** The largest frame sent or accepted, header included. Default 16 MiB. */
  readonly frameBytesMax?: number;
  /** Reconnect delays. Default 100 ms doubling to 5 s, with jitter. */
  readonly backoff?: Backoff;
  readonly logger?: TransportLogger;
  /** A connection must complete its handshake within this. Default 5 s. */
  readonly handshakeTimeoutMs?: number;
  /** Requests served at once per peer connection; more are answered with an error. Default 1024. */
  readonly requestsInflightMax?: number;
  /** Data bytes per snapshot chunk. Default 1 MiB. */
  readonly snapshotChunkBytesMax?: number;
  /** Snapshot chunks sent ahead of the receiver's acks. Default 4. */
  readonly snapshotChunksInflightMax?: number;
  /** Connection failures one snapshot transfer survives (about 25 s of outage with the default backoff). Default 10. */
  readonly snapshotRetriesMax?: number;
  /** A snapshot transfer that makes no progress for this long fails (both ends). Default 30 s. */
  readonly snapshotIdleMs?: number;
}

type Settings = Required<Omit<TcpTransportOptions, 'peers' | 'logger' | 'clusterId' | 'id' | 'listen'>>;

/** Inbound connections allowed to be still in their handshake at once; more are closed at once. */
const HANDSHAKES_PENDING_MAX = 64;

/** Removed peers remembered so that messages to them are dropped quietly; the oldest is forgotten. */
const REMOVED_PEERS_MAX = 1024;

const CONSOLE_LOGGER: TransportLogger = {
  info: () => {},
  warn: (m) => console.warn(m),
  error: (m) => console.error(m),
};

/**
 * Flotilla's peer transport over TCP. Each node keeps one outbound connection per peer and
 * accepts each peer's outbound connection; see docs/transport.md for the protocol.
 *
 * Usage: construct, register handlers (onMessage, onRequest, onSnapshot), start(), then send().
 * With port 0, start every node first, then give each the others' address() via setPeer().
 */
export class TcpTransport implements Transport {
  readonly id: NodeId;
  readonly clusterId: string;
  private readonly settings: Settings;
  private readonly log: TransportLogger;
  private readonly listen: PeerAddress;
  private readonly links = new Map<NodeId, OutboundLink>();
  /** The latest accepted connection from each peer. */
  private readonly inbound = new Map<NodeId, InboundConnection>();
  /** Every inbound connection, accepted or still in its handshake. */
  private readonly connections = new Set<InboundConnection>();
  /** Every socket until it has closed, so stop() can wait for all of them. */
  private readonly sockets = new Map<Socket, Promise<void>>();
  private readonly receiver: SnapshotReceiver;
  private readonly linkContext: LinkContext;
  private readonly inboundContext: InboundContext;
  private server: Server | undefined;
  private bound: PeerAddress | undefined;
  private state: 'new' | 'started' | 'stopped' = 'new';
  private handshakesPending = 0;
  private readonly dirty = new Set<{ flush(): void }>();
  private flushHandle: NodeJS.Immediate | undefined;
  private messageHandler: MessageHandler = () => {};
  private requestHandler: RequestHandler | undefined;
  private snapshotHandler: SnapshotHandler | undefined;
  private nextRequestId = 1;
  private refusedCount = 0;
  private protocolErrorCount = 0;
  /** Destinations we warned about once (bounded: cleared when large). */
  private readonly unknownWarned = new Set<NodeId>();
  /** Peers removed with removePeer(), oldest first: messages to them are dropped without a word. */
  private readonly removed = new Set<NodeId>();

  constructor(options: TcpTransportOptions) {
    this.settings = resolveSettings(options);
    this.id = options.id;
    this.clusterId = options.clusterId;
    this.listen = options.listen;
    const logger = options.logger ?? CONSOLE_LOGGER;
    const prefix = `transport ${options.id}: `;
    this.log = {
      info: (m) => logger.info(prefix + m),
      warn: (m) => logger.warn(prefix + m),
      error: (m) => logger.error(prefix + m),
    };
    const s = this.settings;
    const scheduleFlush = (target: { flush(): void }) => this.scheduleFlush(target);
    this.linkContext = {
      id: this.id,
      clusterId: this.clusterId,
      frameBytesMax: s.frameBytesMax,
      sendQueueBytesMax: s.sendQueueBytesMax,
      handshakeTimeoutMs: s.handshakeTimeoutMs,
      backoff: s.backoff,
      log: this.log,
      scheduleFlush,
      track: (socket) => this.track(socket),
    };
    this.inboundContext = {
      id: this.id,
      clusterId: this.clusterId,
      frameBytesMax: s.frameBytesMax,
      sendQueueBytesMax: s.sendQueueBytesMax,
      handshakeTimeoutMs: s.handshakeTimeoutMs,
      log: this.log,
      isPeer: (id) => this.links.has(id),
      scheduleFlush,
      accepted: (conn) => this.accepted(conn),
      refused: () => this.refusedCount++,
      protocolError: () => this.protocolErrorCount++,
      frame: (conn, f) => this.onInboundFrame(conn, f),
      closed: (conn) => this.closed(conn),
    };
    this.receiver = new SnapshotReceiver({
      handler: () => this.snapshotHandler,
      reply: (peer, frame) => this.inbound.get(peer)?.send(encodeFrame(frame, s.frameBytesMax)),
      deliver: (m) => this.messageHandler(m),
      idleMs: s.snapshotIdleMs,
      bufferBytesMax: s.snapshotChunksInflightMax * s.frameBytesMax,
      log: this.log,
    });
    const peers = options.peers instanceof Map ? options.peers : new Map(Object.entries(options.peers));
    for (const [id, address] of peers) this.setPeer(id, address);
  }

  /** Listens for peers. Rejects with the socket error (EADDRINUSE, say) when it cannot. */
  async start(): Promise<void> {
    assert(this.state === 'new', `transport: start() called in state ${this.state}`);
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.listen.port, this.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error(`the peer listener failed: ${err.message}`));
    this.server = server;
    this.bound = { host: this.listen.host, port: (server.address() as AddressInfo).port };
    this.state = 'started';
    this.log.info(`listening on ${this.bound.host}:${this.bound.port}`);
  }

  /** Where this node listens (the real port when `listen.port` was 0). Only after start(). */
  address(): PeerAddress {
    assert(this.bound !== undefined, 'transport: address() before start()');
    return this.bound;
  }

  /**
   * Closes every connection and timer and waits until all sockets are closed. Pending requests
   * fail with PeerUnavailableError, transfers end (false on the sender, SnapshotAbortedError in
   * the receiver's stream), queued messages are dropped. A stopped transport cannot restart.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    if (this.flushHandle !== undefined) clearImmediate(this.flushHandle);
    this.flushHandle = undefined;
    this.dirty.clear();
    for (const link of this.links.values()) link.close('the transport stopped');
    for (const conn of this.connections) conn.close('the transport stopped');
    this.receiver.close();
    const closing = [...this.sockets.values()];
    const server = this.server;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.all(closing);
  }

  /**
   * Adds a peer, or moves one: a changed address closes the connection to the old one and the
   * link reconnects to the new address (at once if something is waiting to go, else on the next
   * send). The address is `{ host, port }` or a "host:port" string ("[::1]:7101" for IPv6).
   * Throws ConfigError for an invalid address. A removed peer named again is a peer again.
   */
  setPeer(id: NodeId, address: PeerAddress | string): void {
    const a = typeof address === 'string' ? parsePeerAddress(address) : address;
    checkAddress(`peer ${id}`, a);
    if (id === this.id) return;
    this.unknownWarned.delete(id);
    this.removed.delete(id);
    const link = this.links.get(id);
    if (link !== undefined) link.setAddress(a);
    else this.links.set(id, new OutboundLink(id, a, this.linkContext));
  }

  /**
   * Forgets a peer that left the configuration: closes our connection to it (what was queued is
   * discarded, its pending requests fail, a snapshot transfer to it ends) and
   * its connections to us, aborts a transfer from it, and from now on refuses its handshakes as
   * an unknown node. Later messages to it are dropped quietly. Logged once, at info.
   */
  removePeer(id: NodeId): void {
    const link = this.links.get(id);
    if (id === this.id || link === undefined) return;
    const reason = `peer ${id} was removed`;
    this.links.delete(id);
    link.close(reason);
    for (const conn of this.connections) if (conn.peer === id) conn.close(reason);
    this.receiver.forget(id);
    if (this.removed.size >= REMOVED_PEERS_MAX) this.removed.delete(this.removed.values().next().value!);
    this.removed.add(id);
    this.log.info(`removed peer ${id}: its connections are closed and messages to it are dropped`);
  }

  /**
   * Queues each message on its destination's connection; everything queued in one event-loop turn
   * leaves in one write per peer. Never throws for a network reason: a message that does not fit
   * in a frame or beyond the send queue's limit is dropped and counted in stats().peers[to].dropped;
   * one to an unknown node is dropped with a warning (once per node), one to a removed peer
   * without one. Raft retransmits. A message whose `from` is not this node is a bug in the caller
   * and throws InvariantError.
   */
  send(messages: readonly Message[]): void {
    for (const m of messages) {
      if (m.from !== this.id) {
        throw new InvariantError(`transport: sending a message from ${m.from} through node ${this.id}`);
      }
      const link = this.links.get(m.to);
      if (link === undefined) {
        // Raft may still address a removed member for a while (until the change commits, say).
        if (!this.removed.has(m.to)) this.unknownDestination(m);
        continue;
      }
      let frame: Uint8Array;
      try {
        frame = encodeFrame(m, this.settings.frameBytesMax);
      } catch (err) {
        if (!(err instanceof FrameError)) throw err;
        link.countDropped();
        this.log.error(
          `dropped a ${m.type} message to ${m.to}: ${err.reason}; lower entryBytesMax or raise frameBytesMax`,
        );
        continue;
      }
      link.sendMessage(frame);
    }
  }

  onMessage(handler: MessageHandler): void {
    this.messageHandler = handler;
  }

  /**
   * Sends an application request to `to` over our connection to it and resolves with the reply.
   * If the link is idle it connects first (the request waits, within `timeoutMs`); if the last
   * attempt failed (the link is backing off) it fails at once.
   *
   * Rejects with PeerUnavailableError (unknown peer, not connected, queue full, connection lost),
   * RequestTimeoutError or RequestFailedError (the peer's handler failed). After a lost connection
   * or a timeout the OUTCOME IS UNKNOWN: the peer may have executed the request.
   */
  async request(to: NodeId, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    assert(Number.isFinite(timeoutMs) && timeoutMs > 0, `transport: request timeout ${timeoutMs} ms`);
    const link = this.links.get(to);
    if (link === undefined) throw new PeerUnavailableError(to, 'it is not a known peer');
    const id = this.nextRequestId++;
    const frame = encodeFrame({ type: 'rpc-request', id, payload }, this.settings.frameBytesMax);
    return link.request(id, frame, timeoutMs);
  }

  onRequest(handler: RequestHandler): void {
    this.requestHandler = handler;
  }

  /**
   * Streams a snapshot's bytes to `to` (see SnapshotSender) and resolves true once the receiver's
   * onSnapshot handler has consumed them all and resolved. Send the core's `snapshot` message with
   * send() as usual, before or after calling this: the receiver holds it back until the data is
   * in. Report the outcome to the core with RawNode.reportSnapshot(to, ok). A newer transfer to
   * the same peer cancels an older one. Rejects only with an error thrown by `open`'s iterator,
   * or a FrameError when `meta` (its configuration: voters, learners, outgoing voters and
   * addresses) alone would fill a chunk frame.
   */
  async sendSnapshot(to: NodeId, meta: SnapshotMeta, open: SnapshotSource): Promise<boolean> {
    const link = this.links.get(to);
    if (link === undefined || link.state === 'closed') {
      this.log.warn(`cannot send snapshot ${meta.index} to ${to}: not a known peer`);
      return false;
    }
    const s = this.settings;
    const sender = new SnapshotSender(link, meta, open, {
      chunkBytesMax: s.snapshotChunkBytesMax,
      chunksInflightMax: s.snapshotChunksInflightMax,
      retriesMax: s.snapshotRetriesMax,
      idleMs: s.snapshotIdleMs,
      frameBytesMax: s.frameBytesMax,
      log: this.log,
    });
    link.snapshot?.cancel(`snapshot ${meta.index} replaced it`);
    link.snapshot = sender;
    try {
      return await sender.run();
    } finally {
      if (link.snapshot === sender) link.snapshot = undefined;
    }
  }

  onSnapshot(handler: SnapshotHandler): void {
    this.snapshotHandler = handler;
  }

  stats(): TransportStats {
    const peers = Object.fromEntries(
      [...this.links].map(([id, link]): [NodeId, PeerStats] => [
        id,
        link.stats(this.inbound.get(id)?.isOpen ?? false),
      ]),
    );
    return { peers, refused: this.refusedCount, protocolErrors: this.protocolErrorCount };
  }

  private scheduleFlush(target: { flush(): void }): void {
    if (this.state === 'stopped') return;
    this.dirty.add(target);
    this.flushHandle ??= setImmediate(() => this.flushAll());
  }

  private flushAll(): void {
    this.flushHandle = undefined;
    for (const target of this.dirty) target.flush();
    this.dirty.clear();
  }

  private track(socket: Socket): void {
    this.sockets.set(
      socket,
      new Promise((resolve) =>
        socket.once('close', () => {
          this.sockets.delete(socket);
          resolve();
        }),
      ),
    );
  }

  private accept(socket: Socket): void {
    if (this.state !== 'started') {
      socket.destroy();
      return;
    }
    this.track(socket);
    if (this.handshakesPending >= HANDSHAKES_PENDING_MAX) {
      this.log.warn(
        `closed a connection from ${socket.remoteAddress}: ${HANDSHAKES_PENDING_MAX} handshakes pending`,
      );
      socket.destroy();
      return;
    }
    this.handshakesPending++;
    this.connections.add(new InboundConnection(socket, this.inboundContext));
  }

  private accepted(conn: InboundConnection): void {
    this.handshakesPending--;
    const peer = conn.peer!;
    const old = this.inbound.get(peer);
    this.inbound.set(peer, conn);
    old?.close('the peer opened a newer connection');
    this.log.info(`accepted a connection from ${peer} (${conn.remote})`);
  }

  private closed(conn: InboundConnection): void {
    this.connections.delete(conn);
    if (conn.peer === undefined) this.handshakesPending--;
    else if (this.inbound.get(conn.peer) === conn) this.inbound.delete(conn.peer);
  }

  /** A frame from a peer's connection, after its handshake. */
  private onInboundFrame(conn: InboundConnection, f: Frame): void {
    const peer = conn.peer!;
    const link = this.links.get(peer);
    if (link === undefined) {
      conn.close(`${peer} is no longer a peer`);
      return;
    }
    link.framesReceived++;
    switch (f.type) {
      case 'app':
      case 'app-resp':
      case 'heartbeat':
      case 'heartbeat-resp':
      case 'vote':
      case 'pre-vote':
      case 'vote-resp':
      case 'pre-vote-resp':
      case 'snapshot':
      case 'timeout-now':
        if (f.from !== peer || f.to !== this.id) {
          conn.fail(
            `a message from ${JSON.stringify(f.from)} to ${JSON.stringify(f.to)} on ${peer}'s connection`,
          );
          return;
        }
        if (f.type === 'snapshot') this.receiver.onMessage(f);
        else this.messageHandler(f);
        return;
      case 'rpc-request':
        this.serve(conn, peer, f);
        return;
      case 'snapshot-chunk':
        this.receiver.onChunk(peer, f);
        return;
      case 'handshake':
      case 'refuse':
      case 'rpc-response':
      case 'rpc-error':
      case 'snapshot-ack':
      case 'snapshot-result':
        conn.fail(`a ${f.type} frame on its outbound connection`);
        return;
      default:
        assertNever(f);
    }
  }

  /** Runs the request handler; the reply goes back on the connection the request came on. */
  private serve(conn: InboundConnection, peer: NodeId, f: RpcRequestFrame): void {
    const reply = (frame: Frame) => {
      if (!conn.isOpen) return; // the requester has already failed the request
      try {
        conn.send(encodeFrame(frame, this.settings.frameBytesMax));
      } catch (err) {
        if (!(err instanceof FrameError)) throw err;
        conn.send(
          encodeFrame({ type: 'rpc-error', id: f.id, message: `the reply is too large: ${err.reason}` }),
        );
      }
    };
    const handler = this.requestHandler;
    const refusal =
      handler === undefined
        ? 'it has no request handler'
        : conn.requestsInflight >= this.settings.requestsInflightMax
          ? 'too many requests in flight; retry later'
          : undefined;
    if (handler === undefined || refusal !== undefined) {
      reply({ type: 'rpc-error', id: f.id, message: refusal ?? '' });
      return;
    }
    conn.requestsInflight++;
    let served: Promise<Uint8Array>;
    try {
      served = handler(peer, f.payload);
    } catch (err) {
      served = Promise.reject(err);
    }
    served
      .then(
        (payload) => reply({ type: 'rpc-response', id: f.id, payload }),
        (err: unknown) => reply({ type: 'rpc-error', id: f.id, message: wireText(describeError(err)) }),
      )
      .finally(() => conn.requestsInflight--);
  }

  private unknownDestination(m: Message): void {
    if (this.unknownWarned.has(m.to)) return;
    if (this.unknownWarned.size >= 64) this.unknownWarned.clear();
    this.unknownWarned.add(m.to);
    this.log.warn(`dropping messages to ${JSON.stringify(m.to)}: not a known peer (add it with setPeer)`);
  }
}

function checkAddress(what: string, a: PeerAddress): void {
  if (
    typeof a.host !== 'string' ||
    a.host === '' ||
    !Number.isInteger(a.port) ||
    a.port < 0 ||
    a.port > 65535
  ) {
    throw new ConfigError(
      `transport: the address of ${what} must be { host, port } with a host name and a port in [0, 65535], got ${JSON.stringify(a)}`,
    );
  }
}

function resolveSettings(o: TcpTransportOptions): Settings {
  if (o.clusterId === '') throw new ConfigError('transport: clusterId must not be empty');
  if (o.id === '') throw new ConfigError('transport: id must not be empty');
  checkAddress('listen', o.listen);
  const s: Settings = {
    sendQueueBytesMax: o.sendQueueBytesMax ?? 64 * 1024 * 1024,
    frameBytesMax: o.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT,
    backoff: o.backoff ?? BACKOFF_DEFAULT,
    handshakeTimeoutMs: o.handshakeTimeoutMs ?? 5_000,
    requestsInflightMax: o.requestsInflightMax ?? 1024,
    snapshotChunkBytesMax: o.snapshotChunkBytesMax ?? 1024 * 1024,
    snapshotChunksInflightMax: o.snapshotChunksInflightMax ?? 4,
    snapshotRetriesMax: o.snapshotRetriesMax ?? 10,
    snapshotIdleMs: o.snapshotIdleMs ?? 30_000,
  };
  if (
    !Number.isInteger(s.frameBytesMax) ||
    s.frameBytesMax < FRAME_BYTES_MAX_MIN ||
    s.frameBytesMax > 2 ** 32
  ) {
    throw new ConfigError(`transport: frameBytesMax must be an integer in [${FRAME_BYTES_MAX_MIN}, 2^32]`);
  }
  atLeast('sendQueueBytesMax', s.sendQueueBytesMax, s.frameBytesMax);
  atLeast('backoff.baseMs', s.backoff.baseMs, 1);
  atLeast('backoff.maxMs', s.backoff.maxMs, s.backoff.baseMs);
  atLeast('handshakeTimeoutMs', s.handshakeTimeoutMs, 1);
  atLeast('requestsInflightMax', s.requestsInflightMax, 1);
  atLeast('snapshotChunkBytesMax', s.snapshotChunkBytesMax, 1);
  atLeast('snapshotChunksInflightMax', s.snapshotChunksInflightMax, 1);
  atLeast('snapshotRetriesMax', s.snapshotRetriesMax, 0);
  atLeast('snapshotIdleMs', s.snapshotIdleMs, 1);
  return s;
}

function atLeast(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError(`transport: ${name} must be an integer of at least ${min}, got ${value}`);
  }
}
