import { createServer, type Server, type Socket } from 'node:net';
import { decodeFrame } from '../../src/transport/codec.js';
import { HANDSHAKE_FRAME_BYTES_MAX } from '../../src/transport/frames.js';
import type { LinkProxy } from './link-proxy.js';

/** How long a dialler has to send its handshake before the ingress closes the connection. */
const HANDSHAKE_WAIT_MS = 5000;

/**
 * The one peer address of node `to` that the cluster knows: every peer dials it. A configuration
 * carries one address per member, the same for every node (docs/membership.md), so per-link fault
 * injection cannot come from giving each dialler its own proxy address. Instead the ingress reads
 * the dialler's handshake — its first frame, whose layout never changes across protocol versions
 * (src/transport/frames.ts) — learns who is calling, and hands the connection, those bytes
 * included, to the {@link LinkProxy} of link `from → to`. A connection that sends anything else,
 * or nothing in time, or names a node without a link, is closed.
 */
export class PeerIngress {
  private server: Server | undefined;
  private readonly pending = new Set<Socket>();
  /** Connections closed because the dialler could not be told. */
  unrouted = 0;
  port = 0;

  constructor(
    readonly to: string,
    /** The link from `from` to this node, undefined for a node the harness does not know. */
    private readonly route: (from: string) => LinkProxy | undefined,
  ) {}

  /** Listens on an ephemeral loopback port (see {@link port}); it stays the same for the whole run. */
  async start(): Promise<void> {
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
  }

  /** Closes the listener; it resolves once the connections handed to links are closed too (stop those first). */
  async stop(): Promise<void> {
    for (const s of this.pending) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.pending.add(socket);
    let head = Buffer.alloc(0);
    const release = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', drop);
      socket.off('close', release);
      this.pending.delete(socket);
    };
    const drop = () => {
      release();
      this.unrouted++;
      socket.destroy();
    };
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const from = this.dialler(head);
      if (from === 'wait') return;
      const link = from === undefined ? undefined : this.route(from);
      if (link === undefined) return drop();
      release();
      link.adopt(socket, head);
    };
    const timer = setTimeout(drop, HANDSHAKE_WAIT_MS);
    socket.on('data', onData);
    socket.on('error', drop);
    socket.on('close', release);
  }

  /** The node that sent the handshake at the start of `head`; `wait` while it is incomplete. */
  private dialler(head: Buffer): string | undefined | 'wait' {
    if (head.length < 4) return 'wait';
    const size = 4 + head.readUInt32LE(0);
    if (size > HANDSHAKE_FRAME_BYTES_MAX) return undefined;
    if (head.length < size) return 'wait';
    try {
      const frame = decodeFrame(head.subarray(0, size), HANDSHAKE_FRAME_BYTES_MAX);
      return frame.type === 'handshake' && frame.to === this.to ? frame.from : undefined;
    } catch {
      // Not a Flotilla handshake: nothing to route it by, so it is closed.
      return undefined;
    }
  }
}
