import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * How a cut link behaves. `reset`: every connection is closed at once and new ones are closed on
 * accept (the sender sees the loss immediately). `blackhole`: connections stay open but no byte
 * moves in either direction (the sender sees nothing until its own timeouts fire), as on a real
 * partition where packets vanish.
 */
export type CutMode = 'reset' | 'blackhole';

/** Degradations of a link that is up. Probabilities are per chunk of bytes forwarded. */
export interface LinkFaults {
  /** Added to every chunk's delivery time. Order is kept: a chunk never overtakes an earlier one. */
  readonly delayMs: number;
  /** Up to this much more, uniformly at random, per chunk. */
  readonly jitterMs: number;
  /** Chance that a chunk is lost together with its connection (the proxy resets it). */
  readonly resetChance: number;
  /** Chance that a chunk stalls its direction for `stallMs` (a congested or flapping link). */
  readonly stallChance: number;
  readonly stallMs: number;
}

/** A link that forwards every byte at once. */
export const HEALTHY: LinkFaults = { delayMs: 0, jitterMs: 0, resetChance: 0, stallChance: 0, stallMs: 0 };

/** Counters of what a link did, for the summary. */
export interface LinkStats {
  accepted: number;
  refused: number;
  resets: number;
  bytes: number;
}

/** Bytes held per direction before the proxy stops reading from the sender (TCP back-pressure). */
const HELD_BYTES_MAX = 8 << 20;

/**
 * The TCP proxy for one directed link `from → to`: the connections node `from` dials to node `to`
 * — handed over by `to`'s ingress (peer-ingress.ts, see {@link adopt}), or accepted on `port` once
 * {@link start}ed — are forwarded to `to`'s real peer port. A connection carries the
 * dialler's Raft messages and requests one way and the replies to them the other way, so a fault
 * on this link affects both directions of that connection (and nothing of `to → from`).
 */
export class LinkProxy {
  private server: Server | undefined;
  private state: 'up' | CutMode = 'up';
  private faults: LinkFaults = HEALTHY;
  private repliesHeld = false;
  private readonly connections = new Set<ProxiedConnection>();
  readonly stats: LinkStats = { accepted: 0, refused: 0, resets: 0, bytes: 0 };
  port = 0;

  constructor(
    readonly from: string,
    readonly to: string,
    private readonly targetPort: number,
    /** Uniform in [0, 1): decides losses and jitter. */
    readonly random: () => number,
  ) {}

  /** Listens on an ephemeral loopback port (see {@link port}). */
  async start(): Promise<void> {
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
  }

  /** `up`, or how it is cut. */
  get mode(): 'up' | CutMode {
    return this.state;
  }

  /** Whether bytes flow now (up, though maybe degraded). */
  get isUp(): boolean {
    return this.state === 'up';
  }

  /** The degradations in force. */
  get currentFaults(): LinkFaults {
    return this.faults;
  }

  /** Cuts the link. Switching from blackhole to reset closes the held connections. */
  cut(mode: CutMode): void {
    this.state = mode;
    if (mode === 'reset') for (const c of [...this.connections]) c.destroy();
  }

  /**
   * Restores the link. `flush`: bytes held by a blackhole are delivered late, in order (as TCP
   * would retransmit them); otherwise held connections are reset, as if they had timed out.
   */
  heal(flush: boolean): void {
    const wasBlackhole = this.state === 'blackhole';
    this.state = 'up';
    for (const c of [...this.connections]) {
      if (wasBlackhole && !flush) c.destroy();
      else c.kick();
    }
  }

  /**
   * Holds (or releases) the bytes the dialled node sends back — on a peer connection, the replies
   * to the dialler's requests — while the dialler's own bytes keep flowing.
   */
  holdReplies(hold: boolean): void {
    this.repliesHeld = hold;
    for (const c of this.connections) c.kick();
  }

  /** Whether bytes may move in one direction now. */
  flowing(reply: boolean): boolean {
    return this.state === 'up' && !(reply && this.repliesHeld);
  }

  setFaults(faults: LinkFaults): void {
    this.faults = faults;
    for (const c of this.connections) c.kick();
  }

  /** Closes the listener and every connection. */
  async stop(): Promise<void> {
    for (const c of [...this.connections]) c.destroy();
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * Takes over a connection dialled by `from` to `to`, whose first bytes (`head`) were already read
   * — by the ingress that learned the dialler from them. A reset cut refuses it.
   */
  adopt(socket: Socket, head: Buffer): void {
    this.accept(socket)?.receive(head);
  }

  private accept(socket: Socket): ProxiedConnection | undefined {
    if (this.state === 'reset') {
      this.stats.refused++;
      socket.destroy();
      return undefined;
    }
    this.stats.accepted++;
    const upstream = connect({ host: '127.0.0.1', port: this.targetPort });
    const conn = new ProxiedConnection(this, socket, upstream, () => this.connections.delete(conn));
    this.connections.add(conn);
    return conn;
  }

  /** Counts a reset caused by {@link LinkFaults.resetChance}. */
  countReset(): void {
    this.stats.resets++;
  }
}

/** One dialled connection and its upstream twin, pumped both ways through the link's faults. */
class ProxiedConnection {
  private readonly pumps: readonly [Pump, Pump];
  private closed = false;

  constructor(
    readonly link: LinkProxy,
    private readonly down: Socket,
    private readonly up: Socket,
    private readonly onClose: () => void,
  ) {
    down.setNoDelay(true);
    up.setNoDelay(true);
    this.pumps = [new Pump(this, down, up, false), new Pump(this, up, down, true)];
    for (const s of [down, up]) {
      s.on('error', () => this.destroy());
      s.on('close', () => this.destroy());
    }
  }

  /** Bytes the dialler sent before this connection existed: forwarded first, like any it sends. */
  receive(head: Buffer): void {
    if (head.length > 0) this.pumps[0].onData(head);
  }

  /** Re-evaluates both directions after the link changed. */
  kick(): void {
    for (const p of this.pumps) p.deliver();
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pumps) p.stop();
    this.down.destroy();
    this.up.destroy();
    this.onClose();
  }
}

interface HeldChunk {
  readonly bytes: Buffer;
  readonly at: number;
}

/** One direction of a connection: holds chunks until their delivery time, never reordering them. */
class Pump {
  private readonly held: HeldChunk[] = [];
  private heldBytes = 0;
  private lastAt = 0;
  private stalledUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly link: LinkProxy;

  constructor(
    private readonly conn: ProxiedConnection,
    private readonly src: Socket,
    private readonly dst: Socket,
    /** Whether this is the direction back to the dialler. */
    private readonly reply: boolean,
  ) {
    this.link = conn.link;
    src.on('data', (chunk: Buffer) => this.onData(chunk));
    dst.on('drain', () => this.deliver());
  }

  onData(chunk: Buffer): void {
    const f = this.link.currentFaults;
    const r = this.link.random;
    if (this.link.isUp && f.resetChance > 0 && r() < f.resetChance) {
      this.link.countReset();
      this.conn.destroy();
      return;
    }
    const now = performance.now();
    if (this.link.isUp && f.stallChance > 0 && r() < f.stallChance) this.stalledUntil = now + f.stallMs;
    const at = Math.max(this.lastAt, now + f.delayMs + (f.jitterMs > 0 ? r() * f.jitterMs : 0));
    this.lastAt = at;
    this.held.push({ bytes: chunk, at });
    this.heldBytes += chunk.length;
    if (this.heldBytes > HELD_BYTES_MAX) this.src.pause();
    this.deliver();
  }

  /** Writes every chunk that is due, then sleeps until the next one is. */
  deliver(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.link.flowing(this.reply) || this.dst.destroyed) return;
    const now = performance.now();
    while (this.held.length > 0 && !this.dst.writableNeedDrain) {
      const head = this.held[0]!;
      const due = Math.max(head.at, this.stalledUntil);
      if (due > now) {
        this.timer = setTimeout(() => this.deliver(), Math.ceil(due - now));
        return;
      }
      this.held.shift();
      this.heldBytes -= head.bytes.length;
      this.link.stats.bytes += head.bytes.length;
      this.dst.write(head.bytes);
    }
    if (this.heldBytes <= HELD_BYTES_MAX / 2 && this.src.isPaused()) this.src.resume();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.held.length = 0;
    this.heldBytes = 0;
  }
}
