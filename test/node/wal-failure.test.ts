import { afterEach, describe, expect, test } from 'vitest';
import { EX_IOERR, EX_SOFTWARE, exitAfterFailure } from '../../src/cli/serve.js';
import { LocalNetwork } from '../../src/node/local-network.js';
import { type NodeLogger, RaftNode } from '../../src/node/raft-node.js';
import { InvariantError } from '../../src/raft/assert.js';
import { DurableStorage } from '../../src/storage/durable-storage.js';
import { SimulatedDisk } from '../../src/storage/fs/simulated-disk.js';
import { FsyncFailedError } from '../../src/storage/wal/errors.js';
import { ListMachine, numberCodec, waitFor } from './helpers.js';

// DESIGN.md, durability rules; STYLE.md §5: a failed fsync is fatal to the node, and
// `flotilla serve` exits when its node fails. Nodes run on simulated disks (src/storage/fs).

const bytes = (s: string) => new TextEncoder().encode(s);
const running: RaftNode<number>[] = [];

afterEach(async () => {
  for (const n of running.splice(0)) await n.stop();
});

interface DiskNode {
  readonly node: RaftNode<number>;
  readonly machine: ListMachine;
  /** What the node logged as errors, in order. */
  readonly errors: string[];
  /** What onFailure was told, in order. */
  readonly failures: Error[];
  readonly storage: DurableStorage;
}

async function startOnDisk(
  disk: SimulatedDisk,
  net: LocalNetwork,
  id: string,
  voters: readonly string[],
  onFailure?: (node: RaftNode<number>, err: Error, logger: NodeLogger) => void,
  compaction: { snapshotEntries: number; retainEntries: number } = { snapshotEntries: 0, retainEntries: 0 },
): Promise<DiskNode> {
  const storage = await DurableStorage.open({ dir: `/data/${id}`, fs: disk.fs() });
  const machine = new ListMachine();
  const errors: string[] = [];
  const failures: Error[] = [];
  const logger: NodeLogger = { info: () => {}, warn: () => {}, error: (m) => errors.push(m) };
  const node: RaftNode<number> = new RaftNode<number>({
    id,
    voters,
    stateMachine: machine,
    resultCodec: numberCodec,
    storage,
    transport: net.transport(id),
    tickMs: 10,
    electionTicks: 10,
    ...compaction,
    logger,
    onFailure: (err) => {
      failures.push(err);
      onFailure?.(node, err, logger);
    },
  });
  await node.start();
  running.push(node);
  return { node, machine, errors, failures, storage };
}

/** Proposes `names` one after another; each is acknowledged before the next is sent. */
async function writeAll(node: RaftNode<number>, names: readonly string[]): Promise<string[]> {
  for (const name of names) await node.propose(bytes(name));
  return [...names];
}

const names = (prefix: string, n: number) => Array.from({ length: n }, (_, k) => `${prefix}${k}`);

describe('a failed fdatasync stops the node', () => {
  test('a single node: the write in flight is not acknowledged, later calls get ERR_FSYNC_FAILED, every acknowledged write survives a restart', async () => {
    const disk = new SimulatedDisk();
    const one = await startOnDisk(disk, new LocalNetwork(), '1', ['1']);
    await waitFor(() => one.node.isLeader(), 5000, 'node 1 to lead');
    const acked = await writeAll(one.node, names('k', 20));

    // A lone leader's next fsync is the WAL save of the next proposal.
    disk.failNextSync();
    await expect(one.node.propose(bytes('lost'))).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    const failure = one.node.failure();
    expect(failure).toBeInstanceOf(FsyncFailedError);
    expect(failure).toMatchObject({ code: 'ERR_FSYNC_FAILED' });
    expect(one.failures).toEqual([failure]);
    expect(one.errors).toEqual([expect.stringMatching(/^node 1 stops: fsync of \/data\/1\/wal\/.* failed/)]);

    // Nothing after the failure is acknowledged or applied; reads refuse too.
    await expect(one.node.propose(bytes('after'))).rejects.toMatchObject({ code: 'ERR_FSYNC_FAILED' });
    await expect(one.node.readBarrier()).rejects.toMatchObject({ code: 'ERR_FSYNC_FAILED' });
    await expect(one.node.leaseRead()).rejects.toMatchObject({ code: 'ERR_FSYNC_FAILED' });
    await new Promise((r) => setTimeout(r, 100)); // ten ticks: the node must stay stopped
    expect(one.machine.items).toEqual(acked);
    expect(one.failures).toHaveLength(1);
    // What a host does next: stop it (transport, files). It must not hang on the failed WAL.
    await one.node.stop();

    // Power loss, restart: recovery reads back what is on the disk. The simulated disk drops
    // unsynced bytes, so "lost" is gone; a real disk might keep it (it was never acknowledged).
    disk.crash();
    const again = await startOnDisk(disk, new LocalNetwork(), '1', ['1']);
    await waitFor(() => again.node.isLeader(), 5000, 'node 1 to lead again');
    await again.node.readBarrier();
    expect(again.machine.items).toEqual(acked);
    await again.node.propose(bytes('next'));
    expect(again.machine.items).toEqual([...acked, 'next']);
  });

  test('a leader in a cluster of three: it stops, the others elect and keep every acknowledged write', async () => {
    const ids = ['1', '2', '3'];
    const net = new LocalNetwork();
    const disks = new Map(ids.map((id) => [id, new SimulatedDisk()]));
    const nodes = new Map<string, DiskNode>();
    for (const id of ids) nodes.set(id, await startOnDisk(disks.get(id)!, net, id, ids));
    await waitFor(() => [...nodes.values()].some((n) => n.node.isLeader()), 5000, 'a leader');
    const leader = [...nodes.values()].find((n) => n.node.isLeader())!;
    const acked = await writeAll(leader.node, names('k', 20));

    disks.get(leader.node.id)!.failNextSync();
    // The leader sent the entry to its followers before its own fdatasync (thesis §10.2.1), so
    // it may still commit under the next leader: the client is told the outcome is unknown.
    await expect(leader.node.propose(bytes('maybe'))).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    expect(leader.node.failure()).toMatchObject({ code: 'ERR_FSYNC_FAILED' });
    expect(leader.failures).toHaveLength(1);

    const others = [...nodes.values()].filter((n) => n !== leader);
    await waitFor(() => others.some((n) => n.node.isLeader()), 5000, 'a new leader');
    const next = others.find((n) => n.node.isLeader())!;
    await next.node.propose(bytes('after'));
    await expect(leader.node.propose(bytes('refused'))).rejects.toMatchObject({ code: 'ERR_FSYNC_FAILED' });
    await waitFor(() => others.every((n) => n.machine.items.includes('after')), 2000, 'both to apply');

    expect(leader.machine.items).toEqual(acked);
    for (const n of others) {
      const tail = n.machine.items.slice(acked.length);
      expect(n.machine.items.slice(0, acked.length)).toEqual(acked);
      expect([['after'], ['maybe', 'after']]).toContainEqual(tail);
    }
  });
});

test('a follower whose fdatasync fails while it stores a snapshot from the leader stops too; the others go on', async () => {
  const ids = ['1', '2', '3'];
  const net = new LocalNetwork();
  const disks = new Map(ids.map((id) => [id, new SimulatedDisk()]));
  const compaction = { snapshotEntries: 20, retainEntries: 5 };
  const nodes = new Map<string, DiskNode>();
  for (const id of ids) {
    nodes.set(id, await startOnDisk(disks.get(id)!, net, id, ids, undefined, compaction));
  }
  await waitFor(() => [...nodes.values()].some((n) => n.node.isLeader()), 5000, 'a leader');
  const leader = [...nodes.values()].find((n) => n.node.isLeader())!;
  const behind = [...nodes.values()].find((n) => n !== leader)!;
  net.isolate(behind.node.id);
  await writeAll(leader.node, names('s', 60));
  await waitFor(() => leader.storage.firstIndex() > 20, 5000, 'the leader to compact its log');
  // Isolated with PreVote on, the follower has written nothing since: its next sync is the one
  // that makes the leader's snapshot durable.
  disks.get(behind.node.id)!.failNextSync();
  net.heal();
  await waitFor(() => behind.node.failure() !== undefined, 5000, 'the follower to fail');
  expect(behind.node.failure()).toMatchObject({ code: 'ERR_FSYNC_FAILED' });
  expect(behind.failures).toHaveLength(1);
  await expect(behind.node.propose(bytes('refused'))).rejects.toMatchObject({ code: 'ERR_FSYNC_FAILED' });
  await leader.node.propose(bytes('after'));
  const third = [...nodes.values()].find((n) => n !== leader && n !== behind)!;
  await waitFor(() => third.machine.items.includes('after'), 2000, 'the third node to apply');
});

describe("serve's failure path (exitAfterFailure)", () => {
  const fsyncError = () =>
    new FsyncFailedError(
      '/data/1/wal/x.wal',
      Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }),
    );

  function recorder() {
    const lines: string[] = [];
    const exits: number[] = [];
    const logger: NodeLogger = { info: () => {}, warn: () => {}, error: (m) => lines.push(m) };
    return { lines, exits, logger, exit: (code: number) => exits.push(code) };
  }

  test('a failed fsync: one line naming ERR_FSYNC_FAILED, the node closed, then exit status EX_IOERR (74)', async () => {
    const r = recorder();
    let closed = false;
    await exitAfterFailure(fsyncError(), {
      id: '1',
      logger: r.logger,
      close: async () => {
        closed = true;
      },
      exit: r.exit,
    });
    expect(closed).toBe(true);
    expect(r.exits).toEqual([EX_IOERR]);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(
      /^node 1 failed, exiting with status 74: ERR_FSYNC_FAILED: fsync of \/data\/1\/wal\/x\.wal failed/,
    );
    expect(r.lines[0]).not.toMatch(/\n/);
  });

  test('a close that hangs or fails does not keep the process: it exits after closeMs', async () => {
    const hangs = recorder();
    await exitAfterFailure(fsyncError(), {
      id: '1',
      logger: hangs.logger,
      close: () => new Promise<void>(() => {}),
      exit: hangs.exit,
      closeMs: 50,
    });
    expect(hangs.exits).toEqual([EX_IOERR]);
    expect(hangs.lines[1]).toMatch(/took over 50 ms; exiting without waiting/);
    const fails = recorder();
    await exitAfterFailure(fsyncError(), {
      id: '1',
      logger: fails.logger,
      close: () => Promise.reject(new Error('EIO on close')),
      exit: fails.exit,
    });
    expect(fails.exits).toEqual([EX_IOERR]);
    expect(fails.lines[1]).toMatch(/EIO on close/);
  });

  test('another fatal error (a broken invariant) exits with EX_SOFTWARE (70), its message on one line', async () => {
    const r = recorder();
    await exitAfterFailure(new InvariantError('progress: match < next\n(match 5, next 5)'), {
      id: '2',
      logger: r.logger,
      close: async () => {},
      exit: r.exit,
    });
    expect(r.exits).toEqual([EX_SOFTWARE]);
    expect(r.lines).toEqual([
      'node 2 failed, exiting with status 70: ERR_INVARIANT: invariant broken: progress: match < next (match 5, next 5)',
    ]);
  });

  test('wired as onFailure, as serve wires it: a failed fdatasync closes the node and exits with 74', async () => {
    const disk = new SimulatedDisk();
    const exits: number[] = [];
    let exited: Promise<void> | undefined;
    const one = await startOnDisk(disk, new LocalNetwork(), '1', ['1'], (node, err, logger) => {
      exited = exitAfterFailure(err, {
        id: node.id,
        logger,
        close: () => node.stop(),
        exit: (c) => exits.push(c),
      });
    });
    await waitFor(() => one.node.isLeader(), 5000, 'node 1 to lead');
    await writeAll(one.node, names('k', 3));
    disk.failNextSync();
    await expect(one.node.propose(bytes('lost'))).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    await exited;
    expect(exits).toEqual([EX_IOERR]);
    expect(one.errors).toEqual([
      expect.stringMatching(/^node 1 stops: fsync of/),
      expect.stringMatching(/^node 1 failed, exiting with status 74: ERR_FSYNC_FAILED: fsync of/),
    ]);
  });
});
