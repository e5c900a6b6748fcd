// Shared pieces of the transport tests: condition waits, captured logs, loopback clusters, a proxy.
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Message } from '../../src/raft/messages.js';
import { type Index, index, type NodeId, type Term, term } from '../../src/raft/types.js';
import { TcpTransport, type TcpTransportOptions } from '../../src/transport/tcp-transport.js';
import type { PeerAddress, TransportLogger } from '../../src/transport/transport.js';

export const LOOPBACK = '127.0.0.1';

/** Polls `cond` every few milliseconds until it holds; fails after `timeoutMs` naming `what`. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what = 'a condition'): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
}

/** A logger that keeps every line, to assert on what was logged and why. */
export class CapturedLog implements TransportLogger {
  readonly lines: LogLine[] = [];
  info(message: string): void {
    this.lines.push({ level: 'info', message });
  }
  warn(message: string): void {
    this.lines.push({ level: 'warn', message });
  }
  error(message: string): void {
    this.lines.push({ level: 'error', message });
  }
  has(level: LogLine['level'], pattern: RegExp): boolean {
    return this.lines.some((l) => l.level === level && pattern.test(l.message));
  }
}

export interface TestNode {
  readonly id: NodeId;
  readonly t: TcpTransport;
  readonly log: CapturedLog;
  readonly inbox: Message[];
}

/** Options the tests share: short backoff and handshake timeouts so failures show quickly. */
export const FAST = { backoff: { baseMs: 10, maxMs: 50 }, handshakeTimeoutMs: 2_000 } as const;

/**
 * Transports created by a test, stopped by `stopAll()` (call it in afterEach): every socket and
 * timer is closed even when an assertion failed halfway.
 */
export class Nodes {
  private readonly all: TcpTransport[] = [];

  /** A started transport on an ephemeral loopback port that records what it receives. */
  async start(
    id: NodeId,
    options: Partial<TcpTransportOptions> = {},
    peers: Record<NodeId, PeerAddress> = {},
  ): Promise<TestNode> {
    const log = new CapturedLog();
    const t = new TcpTransport({
      clusterId: 'test-cluster',
      id,
      listen: { host: LOOPBACK, port: 0 },
      peers,
      logger: log,
      ...FAST,
      ...options,
    });
    this.all.push(t);
    const inbox: Message[] = [];
    t.onMessage((m) => inbox.push(m));
    await t.start();
    return { id, t, log, inbox };
  }

  /** Several transports that all know each other's ports. */
  async cluster(ids: readonly NodeId[], options: Partial<TcpTransportOptions> = {}): Promise<TestNode[]> {
    const nodes: TestNode[] = [];
    for (const id of ids) nodes.push(await this.start(id, options));
    for (const n of nodes) for (const m of nodes) n.t.setPeer(m.id, m.t.address());
    return nodes;
  }

  track(t: TcpTransport): void {
    this.all.push(t);
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.all.splice(0).map((t) => t.stop()));
  }
}

export function heartbeat(from: NodeId, to: NodeId, commit: number, t = 1): Message {
  return { type: 'heartbeat', from, to, term: term(t), commit: index(commit), context: 0 };
}

export function append(from: NodeId, to: NodeId, seq: number, dataBytes: number): Message {
  const data = new Uint8Array(dataBytes).fill(seq & 0xff);
  const at: Index = index(seq);
  const t: Term = term(1);
  return {
    type: 'app',
    from,
    to,
    term: t,
    prevIndex: index(seq - 1),
    prevTerm: t,
    entries: [{ term: t, index: at, kind: 0, data }],
    commit: at,
  };
}

/**
 * A loopback TCP proxy in front of a peer, so a test can cut every connection through it at a
 * moment of its choosing (the peers then reconnect through it).
 */
export class CutProxy {
  private readonly pairs = new Set<readonly [Socket, Socket]>();
  private readonly server: Server;
  address: PeerAddress = { host: LOOPBACK, port: 0 };

  private constructor(private readonly target: PeerAddress) {
    this.server = createServer((client) => this.forward(client));
  }

  static async start(target: PeerAddress): Promise<CutProxy> {
    const proxy = new CutProxy(target);
    await new Promise<void>((resolve) => proxy.server.listen(0, LOOPBACK, resolve));
    proxy.address = { host: LOOPBACK, port: (proxy.server.address() as { port: number }).port };
    return proxy;
  }

  /** Connections currently forwarded. */
  get connections(): number {
    return this.pairs.size;
  }

  /** Destroys every connection through the proxy (both sides see the connection drop). */
  cut(): void {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private forward(client: Socket): void {
    const upstream = connect(this.target);
    const pair = [client, upstream] as const;
    this.pairs.add(pair);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
