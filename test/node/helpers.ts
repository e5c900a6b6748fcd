import { LocalNetwork } from '../../src/node/local-network.js';
import { RaftNode } from '../../src/node/raft-node.js';
import type { StateMachine } from '../../src/node/state-machine.js';
import type { Index } from '../../src/raft/types.js';
import { MemoryNodeStorage } from '../../src/storage/node-storage.js';

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A state machine that appends each command (a UTF-8 string) to a list; the result is the index. */
export class ListMachine implements StateMachine<number> {
  items: string[] = [];

  apply(command: Uint8Array, index: Index): number {
    this.items.push(decoder.decode(command));
    return index;
  }

  async *snapshot(): AsyncIterable<Uint8Array> {
    const copy = JSON.stringify(this.items);
    yield encoder.encode(copy);
  }

  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    let text = '';
    for await (const c of chunks) text += decoder.decode(c, { stream: true });
    this.items = JSON.parse(text) as string[];
  }
}

export const numberCodec = {
  encode: (n: number) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, n);
    return b;
  },
  decode: (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength).getFloat64(0),
};

/** Waits until `cond()` holds, checking every few ms; fails after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface LocalCluster {
  net: LocalNetwork;
  nodes: Map<string, RaftNode<number>>;
  machines: Map<string, ListMachine>;
  storages: Map<string, MemoryNodeStorage>;
  /** Each node's warnings and errors, in order. */
  warnings: Map<string, string[]>;
  start(id: string): Promise<void>;
  /** Starts a new node with an empty log and no voters, as one joining a running cluster does. */
  join(id: string): Promise<RaftNode<number>>;
  leader(): RaftNode<number> | undefined;
  stopAll(): Promise<void>;
}

/** Three in-process RaftNodes on a LocalNetwork, 10 ms ticks. */
export function localCluster(
  options: {
    snapshotEntries?: number;
    retainEntries?: number;
    leaseReads?: boolean;
    clock?: () => number;
    promoteLagMax?: number;
  } = {},
): LocalCluster {
  const ids = ['1', '2', '3'];
  const net = new LocalNetwork();
  const nodes = new Map<string, RaftNode<number>>();
  const machines = new Map<string, ListMachine>();
  const storages = new Map<string, MemoryNodeStorage>();
  const warnings = new Map<string, string[]>();
  const make = (id: string, voters: readonly string[] = ids) => {
    const storage = storages.get(id) ?? new MemoryNodeStorage();
    storages.set(id, storage);
    const machine = new ListMachine();
    machines.set(id, machine);
    const warned: string[] = warnings.get(id) ?? [];
    warnings.set(id, warned);
    const node = new RaftNode<number>({
      id,
      voters,
      addresses: Object.fromEntries(ids.map((v) => [v, `local:${v}`])),
      stateMachine: machine,
      resultCodec: numberCodec,
      storage,
      transport: net.transport(id),
      tickMs: 10,
      electionTicks: 10,
      snapshotEntries: options.snapshotEntries ?? 0,
      retainEntries: options.retainEntries ?? 0,
      leaseReads: options.leaseReads ?? false,
      ...(options.promoteLagMax === undefined ? {} : { promoteLagMax: options.promoteLagMax }),
      logger: { info: () => {}, warn: (m) => warned.push(m), error: (m) => warned.push(m) },
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    nodes.set(id, node);
    return node;
  };
  for (const id of ids) make(id);
  return {
    net,
    nodes,
    machines,
    storages,
    warnings,
    start: async (id) => {
      await make(id).start();
    },
    join: async (id) => {
      const node = make(id, []);
      await node.start();
      return node;
    },
    leader: () => [...nodes.values()].find((n) => n.isLeader()),
    stopAll: async () => {
      for (const n of nodes.values()) await n.stop();
    },
  };
}

/** Starts every node of `c` and waits until one leads and every node knows it. */
export async function startAll(c: LocalCluster): Promise<LocalCluster> {
  for (const n of c.nodes.values()) await n.start();
  await waitFor(() => c.leader() !== undefined, 5000, 'a leader');
  const lead = c.leader()!.id;
  await waitFor(
    () => [...c.nodes.values()].every((n) => n.status().leader === lead),
    5000,
    'every node to know the leader',
  );
  return c;
}
