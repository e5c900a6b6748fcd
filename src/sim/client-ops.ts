import { assert } from '../raft/assert.js';
import { NotLeaderError, TransferInProgressError } from '../raft/errors.js';
import type { Ready } from '../raft/raw-node.js';
import { NONE, type NodeId, Role } from '../raft/types.js';
import {
  ClientHistory,
  type ClientOp,
  type ClientOpName,
  type Consistency,
  type ReadPath,
} from './client-history.js';
import { describeClientOp } from './history-check.js';
import { LeaseClock } from './lease.js';
import { encodeCommand, type SimCommand } from './sim-kv.js';
import type { SimNode } from './sim-node.js';

/**
 * A follower's request for a read index and the leader's answer (RaftNode's forwarded
 * FORWARD_READ_INDEX), as a sim-level RPC: it travels through the simulated network, so
 * partitions, loss, duplication and delay apply to it like to any Raft message.
 */
export type ReadIndexRpc =
  | { readonly type: 'read-index'; readonly from: NodeId; readonly to: NodeId; readonly op: number }
  | {
      readonly type: 'read-index-resp';
      readonly from: NodeId;
      readonly to: NodeId;
      readonly op: number;
      /** The read index, or -1 when the node asked does not lead (then `error` says so). */
      readonly index: number;
      readonly error: string;
    };

/** What the client side needs from the cluster. */
export interface ClientHost {
  now(): number;
  node(id: NodeId): SimNode;
  sendRpc(rpc: ReadIndexRpc): void;
  /** Runs `run` at virtual time `at` as an event of its own (an empty label keeps it off the trace). */
  later(at: number, label: string, run: () => void): void;
  /** Adds a line to the recent events a failure report shows (built only if one is shown). */
  trace(text: () => string): void;
  /**
   * Proposes `data` at `n` (throws NotLeaderError), drives and checks the node, and returns where
   * the entry went. The host records the entry's own bytes as acknowledged once applied in its
   * term; ClientOps answers its clients itself (`writeApplied`).
   */
  propose(n: SimNode, data: Uint8Array): { readonly index: number; readonly term: number };
  /** Takes `n`'s Readies and checks it. */
  drive(n: SimNode): void;
}

export interface ClientOpsOptions {
  /** The host serves `lease` reads from the leader's lease; otherwise they are served as linearizable. */
  readonly leaseReads: boolean;
  /** How long a lease lasts on the leader's own clock: electionTicks × tickMs × (1 − clockDriftBound). */
  readonly leaseMs: number;
}

/** A ReadIndex request a node handed to its core: a read of its own client, or of a follower. */
type ReadRequest = { readonly op: ClientOp } | { readonly from: NodeId; readonly opId: number };

/** The client bookkeeping of one node incarnation (lost on a crash, like the host's memory). */
interface NodeReads {
  readonly requests: Map<number, ReadRequest>;
  /** Follower reads waiting for the leader's read index, by op id. */
  readonly forwarded: Map<number, ClientOp>;
  /** Reads confirmed at an index, waiting until the state machine has applied it. */
  waiters: { readonly index: number; readonly op: ClientOp; readonly path: ReadPath }[];
  readonly lease: LeaseClock;
  /** Writes proposed here and not yet seen applied, by log index. */
  readonly writes: Map<number, ClientOp>;
}

/** What `invoke` records of a new operation. */
interface OpSpec {
  readonly process: number;
  readonly f: ClientOpName;
  readonly key: string;
  readonly node: NodeId;
  readonly consistency?: Consistency;
  readonly value: string | null;
  readonly expected?: string | null;
}

/**
 * Simulated clients: each operation goes to one node, as a client of the HTTP API would send
 * it, and is served there the way RaftNode serves it — writes (put, delete, cas) are proposals
 * answered once applied at the proposer in the same term, a cas with whether its condition held
 * there; `linearizable` reads use ReadIndex (a follower asks
 * the leader for the index); `lease` reads use the leader's lease on its own clock and fall back
 * to ReadIndex; `stale` reads return local state. Every operation is recorded in `history`.
 */
export class ClientOps {
  readonly history = new ClientHistory();
  private readonly open = new Map<number, ClientOp>();
  private readonly busy = new Set<number>();
  private readonly perNode = new Map<NodeId, NodeReads>();
  private nextOpId = 1;
  private nextReadId = 1;

  constructor(
    private readonly host: ClientHost,
    private readonly opts: ClientOpsOptions,
  ) {}

  /** `process` writes `value` at `key` through `node`; it ends `info` if not done in `timeoutMs`. */
  put(
    process: number,
    node: NodeId,
    key: string,
    value: string,
    timeoutMs: number,
    onEnd?: (op: ClientOp) => void,
  ): ClientOp {
    const op = this.invoke({ process, f: 'put', key, node, value }, timeoutMs, onEnd);
    return this.write(op, { f: 'put', key, value });
  }

  /** `process` deletes `key` through `node`; it ends `info` if not done in `timeoutMs`. */
  delete(
    process: number,
    node: NodeId,
    key: string,
    timeoutMs: number,
    onEnd?: (op: ClientOp) => void,
  ): ClientOp {
    const op = this.invoke({ process, f: 'delete', key, node, value: null }, timeoutMs, onEnd);
    return this.write(op, { f: 'delete', key });
  }

  /**
   * `process` writes `value` at `key` through `node` if the key holds `expected` (null: absent)
   * when the entry is applied: `ok` if it did, `fail` if the key held something else, `fail` with
   * `neverRan` if it was refused; `info` if not done in `timeoutMs`.
   */
  cas(
    process: number,
    node: NodeId,
    cas: { readonly key: string; readonly expected: string | null; readonly value: string },
    timeoutMs: number,
    onEnd?: (op: ClientOp) => void,
  ): ClientOp {
    const { key, expected, value } = cas;
    const op = this.invoke({ process, f: 'cas', key, node, value, expected }, timeoutMs, onEnd);
    return this.write(op, { f: 'cas', key, expected, value });
  }

  /** `process` reads `key` at `node` with `consistency`; it ends `info` if not done in `timeoutMs`. */
  get(
    process: number,
    node: NodeId,
    key: string,
    consistency: Consistency,
    timeoutMs: number,
    onEnd?: (op: ClientOp) => void,
  ): ClientOp {
    const op = this.invoke({ process, f: 'get', key, node, consistency, value: null }, timeoutMs, onEnd);
    const n = this.host.node(node);
    if (!n.up) return this.end(op, 'fail', 'node is down');
    switch (consistency) {
      case 'stale':
        this.serve(n, op, 'stale');
        break;
      case 'lease':
        if (this.leaseHolds(n)) this.afterApplied(n, n.raw!.raft.log.commit, op, 'lease');
        else this.readIndex(n, op);
        break;
      case 'linearizable':
        this.readIndex(n, op);
        break;
    }
    return op;
  }

  /** As RaftNode.leaseRead: leading, an entry of this term committed, and the lease not yet out. */
  leaseHolds(n: SimNode): boolean {
    if (!this.opts.leaseReads || n.raw === undefined) return false;
    const expiry = this.reads(n).lease.expiry(n.raw.raft, this.opts.leaseMs);
    return expiry !== undefined && n.clock(this.host.now()) < expiry;
  }

  // ---- hooks the cluster calls --------------------------------------------------------------

  /** `n` produced `rd`; its `messages` leave now. */
  onReady(n: SimNode, rd: Ready): void {
    const reads = this.reads(n);
    if (rd.snapshot !== undefined) {
      // The snapshot replaces the log: the proposer will not see its entries applied one by one.
      for (const [index, op] of reads.writes) {
        if (index > rd.snapshot.index) continue;
        reads.writes.delete(index);
        this.writeUnknown(op, 'a snapshot replaced the proposer\u2019s log');
      }
    }
    if (this.opts.leaseReads) reads.lease.noteSent(rd.messages, n.raw!.raft, n.clock(this.host.now()));
    for (const rs of rd.readStates) {
      for (const id of rs.requests) {
        const r = reads.requests.get(id);
        if (r === undefined) continue;
        reads.requests.delete(id);
        if ('op' in r) this.afterApplied(n, rs.index, r.op, 'read-index');
        else this.reply(n, r, rs.index, '');
      }
    }
    for (const id of rd.readsDropped) {
      const r = reads.requests.get(id);
      if (r === undefined) continue;
      reads.requests.delete(id);
      if ('op' in r) this.end(r.op, 'fail', 'leadership lost before the read was confirmed');
      else this.reply(n, r, -1, 'leadership lost before the read was confirmed');
    }
  }

  /**
   * `n` applied entries (or installed a snapshot): answer the writes it proposed that are now
   * applied, then serve the reads that waited for them.
   */
  onApplied(n: SimNode): void {
    const reads = this.perNode.get(n.id);
    if (reads === undefined) return;
    const applied = n.applied.length;
    for (const [index, op] of reads.writes) {
      if (index > applied) continue;
      reads.writes.delete(index);
      const e = n.applied[index - 1]!;
      const ours = e.term === op.proposed!.term;
      this.writeApplied(op, ours, ours && op.f === 'cas' ? n.kv.conditionHeld(index) : undefined);
    }
    if (reads.waiters.length === 0) return;
    const waiting = reads.waiters;
    reads.waiters = [];
    for (const w of waiting) {
      if (w.op.status !== 'open') continue;
      if (w.index <= applied) this.serve(n, w.op, w.path);
      else reads.waiters.push(w);
    }
  }

  /** A read-index RPC arrived at its (up) destination. */
  onRpc(rpc: ReadIndexRpc): void {
    const n = this.host.node(rpc.to);
    const raw = n.raw!;
    if (rpc.type === 'read-index') {
      if (raw.raft.role !== Role.Leader) {
        this.reply(n, { from: rpc.from, opId: rpc.op }, -1, 'the node asked for a read index does not lead');
        return;
      }
      const id = this.nextReadId++;
      this.reads(n).requests.set(id, { from: rpc.from, opId: rpc.op });
      raw.readIndex(id);
      this.host.drive(n);
      return;
    }
    const reads = this.reads(n);
    const op = reads.forwarded.get(rpc.op);
    if (op === undefined) return; // a duplicate, or an answer to an earlier incarnation
    reads.forwarded.delete(rpc.op);
    if (rpc.index < 0) this.end(op, 'fail', rpc.error);
    else this.afterApplied(n, rpc.index, op, 'follower-read-index');
  }

  /**
   * The write `op` proposed reached the proposer's state machine: at its index (`ours`) or not;
   * for a cas at its index, `held` says whether its condition held there.
   */
  writeApplied(op: ClientOp, ours: boolean, held?: boolean): void {
    if (!ours) {
      this.refuse(op, 'another entry was committed at its index');
      return;
    }
    if (op.f !== 'cas') {
      this.end(op, 'ok', '');
      return;
    }
    assert(held !== undefined, `client-ops: cas op ${op.id} applied at its index has an outcome`);
    if (held) this.end(op, 'ok', '');
    else this.end(op, 'fail', 'the key did not hold the expected value');
  }

  /** The proposer can no longer tell whether `op` took effect (a snapshot replaced its log). */
  writeUnknown(op: ClientOp, reason: string): void {
    this.end(op, 'info', reason);
  }

  /** `n` crashed: the host's memory is gone, and with it every operation it was serving. */
  onCrash(n: SimNode): void {
    this.perNode.delete(n.id);
    for (const op of [...this.open.values()]) if (op.node === n.id) this.end(op, 'info', 'the node crashed');
  }

  /** Operations not yet ended. */
  get openCount(): number {
    return this.open.size;
  }

  // ---- internals ----------------------------------------------------------------------------

  /** Proposes `op`'s command at its node, or refuses it as RaftNode would. */
  private write(op: ClientOp, cmd: SimCommand): ClientOp {
    const n = this.host.node(op.node);
    if (!n.up) return this.refuse(op, 'node is down');
    let at: { readonly index: number; readonly term: number };
    try {
      at = this.host.propose(n, encodeCommand(cmd));
    } catch (err) {
      if (err instanceof TransferInProgressError) {
        // Refused before it was proposed, as RaftNode refuses it: it never took effect.
        op.leaderHint = err.to;
        return this.refuse(op, 'leadership transfer in progress');
      }
      if (!(err instanceof NotLeaderError)) throw err;
      op.leaderHint = err.leaderHint;
      return this.refuse(op, 'not the leader');
    }
    op.proposed = { index: at.index, term: at.term };
    const writes = this.reads(n).writes;
    // An earlier write of ours at this index was cut from the log by a later leader's entries
    // (it was never committed: a committed entry is in every later leader's log, §5.4).
    const earlier = writes.get(at.index);
    if (earlier !== undefined) this.refuse(earlier, 'a later leader replaced its entry');
    writes.set(at.index, op);
    // Applied before we could note it (the host drove the node): answer it now.
    if (n.applied.length >= at.index) this.onApplied(n);
    return op;
  }

  private invoke(spec: OpSpec, timeoutMs: number, onEnd: ((op: ClientOp) => void) | undefined): ClientOp {
    const { process } = spec;
    assert(!this.busy.has(process), `client-ops: process ${process} invokes while its last op is open`);
    const now = this.host.now();
    const op: ClientOp = {
      id: this.nextOpId++,
      process,
      f: spec.f,
      key: spec.key,
      node: spec.node,
      consistency: spec.consistency,
      expected: spec.expected,
      invokedAt: now,
      value: spec.value,
      status: 'open',
      neverRan: false,
      endedAt: Number.NaN,
      reason: '',
      path: undefined,
      leaderHint: undefined,
      proposed: undefined,
      onEnd,
    };
    this.open.set(op.id, op);
    this.busy.add(process);
    this.history.invoked(op, now);
    this.host.trace(() => `client ${process} invokes ${describeClientOp(op)}`);
    this.host.later(now + timeoutMs, '', () => {
      if (op.status === 'open') this.end(op, 'info', `no answer within ${timeoutMs}ms`);
    });
    return op;
  }

  /** Ends `op` as certainly not run: refused, or another entry took its index. */
  private refuse(op: ClientOp, reason: string): ClientOp {
    if (op.status === 'open' && op.f !== 'get') op.neverRan = true;
    return this.end(op, 'fail', reason);
  }

  private end(op: ClientOp, status: Exclude<ClientOp['status'], 'open'>, reason: string): ClientOp {
    if (op.status !== 'open') return op;
    const now = this.host.now();
    op.status = status;
    op.reason = reason;
    op.endedAt = now;
    this.open.delete(op.id);
    this.busy.delete(op.process);
    this.history.ended(op, now);
    this.host.trace(() => `client ${op.process} sees ${describeClientOp(op)}`);
    const onEnd = op.onEnd;
    // Not from inside the event that ended it: that may be in the middle of a node's Ready.
    if (onEnd !== undefined) this.host.later(now, '', () => onEnd(op));
    return op;
  }

  private serve(n: SimNode, op: ClientOp, path: ReadPath): void {
    if (op.status !== 'open') return;
    op.value = n.kv.get(op.key) ?? null;
    op.path = path;
    this.end(op, 'ok', '');
  }

  /** ReadIndex (thesis §6.4): at the leader by a heartbeat round; at a follower by asking the leader. */
  private readIndex(n: SimNode, op: ClientOp): void {
    const raw = n.raw!;
    const reads = this.reads(n);
    if (raw.raft.role === Role.Leader) {
      const id = this.nextReadId++;
      reads.requests.set(id, { op });
      raw.readIndex(id);
      this.host.drive(n);
      return;
    }
    const lead = raw.raft.lead;
    if (lead === NONE) {
      this.end(op, 'fail', 'no leader known');
      return;
    }
    reads.forwarded.set(op.id, op);
    this.host.sendRpc({ type: 'read-index', from: n.id, to: lead, op: op.id });
  }

  /** Serves `op` once `n` has applied through `index`. */
  private afterApplied(n: SimNode, index: number, op: ClientOp, path: ReadPath): void {
    if (op.status !== 'open') return;
    if (n.applied.length >= index) this.serve(n, op, path);
    else this.reads(n).waiters.push({ index, op, path });
  }

  private reply(n: SimNode, to: { from: NodeId; opId: number }, index: number, error: string): void {
    this.host.sendRpc({ type: 'read-index-resp', from: n.id, to: to.from, op: to.opId, index, error });
  }

  private reads(n: SimNode): NodeReads {
    let r = this.perNode.get(n.id);
    if (r === undefined) {
      r = {
        requests: new Map(),
        forwarded: new Map(),
        waiters: [],
        lease: new LeaseClock(),
        writes: new Map(),
      };
      this.perNode.set(n.id, r);
    }
    return r;
  }
}
