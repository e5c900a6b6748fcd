import type { Message } from '../raft/messages.js';
import type { NodeId, SnapshotMeta } from '../raft/types.js';
import type { NodeTransport } from './transport.js';

type SnapshotHandler = (from: NodeId, meta: SnapshotMeta, chunks: AsyncIterable<Uint8Array>) => Promise<void>;

interface Endpoint {
  onMessage?: (m: Message) => void;
  onRequest?: (from: NodeId, payload: Uint8Array) => Promise<Uint8Array>;
  onSnapshot?: SnapshotHandler;
  up: boolean;
  /** Peers this node removed: no traffic either way until setPeer names them again. */
  readonly removed: Set<NodeId>;
}

class PeerUnavailable extends Error {
  readonly code = 'ERR_PEER_UNAVAILABLE';
  constructor(
    message: string,
    readonly maybeDelivered = false,
  ) {
    super(message);
  }
}

/**
 * Nodes of one process talking through the event loop: every delivery is a later macrotask, as
 * on a real network. For tests and examples; `cut(a, b)` drops traffic between two nodes.
 * `removePeer` works as on TCP: the two nodes stop talking, both ways, until `setPeer`.
 */
export class LocalNetwork {
  private readonly endpoints = new Map<NodeId, Endpoint>();
  private readonly blocked = new Set<string>();

  transport(id: NodeId): NodeTransport {
    const ep: Endpoint = { up: false, removed: new Set() };
    this.endpoints.set(id, ep);
    return {
      send: (messages) => {
        for (const m of messages) this.deliver(m);
      },
      onMessage: (h) => {
        ep.onMessage = h;
      },
      request: (to, payload, timeoutMs) => this.request(id, to, payload, timeoutMs),
      onRequest: (h) => {
        ep.onRequest = h;
      },
      sendSnapshot: (to, meta, open) => this.sendSnapshot(id, to, meta, open),
      onSnapshot: (h) => {
        ep.onSnapshot = h;
      },
      // Routing is by id: an address means nothing here, but naming a peer undoes its removal.
      setPeer: (peer) => {
        ep.removed.delete(peer);
      },
      removePeer: (peer) => {
        if (peer !== id) ep.removed.add(peer);
      },
      start: async () => {
        ep.up = true;
      },
      stop: async () => {
        ep.up = false;
      },
    };
  }

  /** Drops all traffic between `a` and `b`, both ways. */
  cut(a: NodeId, b: NodeId): void {
    this.blocked.add(`${a}>${b}`);
    this.blocked.add(`${b}>${a}`);
  }

  /** Cuts `id` off from every other node. */
  isolate(id: NodeId): void {
    for (const other of this.endpoints.keys()) if (other !== id) this.cut(id, other);
  }

  heal(): void {
    this.blocked.clear();
  }

  private reachable(from: NodeId, to: NodeId): Endpoint | undefined {
    const ep = this.endpoints.get(to);
    if (ep === undefined || !ep.up || this.blocked.has(`${from}>${to}`)) return undefined;
    if (ep.removed.has(from) || this.endpoints.get(from)?.removed.has(to) === true) return undefined;
    return ep;
  }

  private deliver(m: Message): void {
    setImmediate(() => this.reachable(m.from, m.to)?.onMessage?.(m));
  }

  private request(from: NodeId, to: NodeId, payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const ep = this.reachable(from, to);
    if (ep?.onRequest === undefined) return Promise.reject(new PeerUnavailable(`${to} is unreachable`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`request to ${to} timed out`)), timeoutMs);
      ep.onRequest!(from, payload).then(
        (r) => {
          clearTimeout(timer);
          if (this.reachable(to, from) === undefined) reject(new PeerUnavailable('connection lost', true));
          else resolve(r);
        },
        (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  private async sendSnapshot(
    from: NodeId,
    to: NodeId,
    meta: SnapshotMeta,
    open: (offset: number) => AsyncIterable<Uint8Array>,
  ): Promise<boolean> {
    const ep = this.reachable(from, to);
    if (ep?.onSnapshot === undefined) return false;
    try {
      await ep.onSnapshot(from, meta, open(0));
      return this.reachable(from, to) !== undefined;
    } catch {
      return false;
    }
  }
}
