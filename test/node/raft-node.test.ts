import { afterEach, describe, expect, test } from 'vitest';
import { NoLeaderError, OverloadedError } from '../../src/node/errors.js';
import { PeerUnavailableError } from '../../src/transport/errors.js';
import { type LocalCluster, localCluster, startAll, waitFor } from './helpers.js';

const bytes = (s: string) => new TextEncoder().encode(s);
let cluster: LocalCluster | undefined;

afterEach(async () => {
  await cluster?.stopAll();
  cluster = undefined;
});

async function started(options: Parameters<typeof localCluster>[0] = {}): Promise<LocalCluster> {
  cluster = localCluster(options);
  return startAll(cluster);
}

describe('RaftNode over a local network (real time, 10 ms ticks)', () => {
  test('a proposal on the leader resolves with its result once applied, and every node applies it', async () => {
    const c = await started();
    const leader = c.leader()!;
    const results = await Promise.all(['x', 'y', 'z'].map((s) => leader.propose(bytes(s))));
    expect(results).toEqual([results[0], results[0]! + 1, results[0]! + 2]);
    await waitFor(
      () => [...c.machines.values()].every((m) => m.items.length === 3),
      2000,
      'all nodes to apply',
    );
    for (const m of c.machines.values()) expect(m.items).toEqual(['x', 'y', 'z']);
  });

  test('proposals from one event-loop turn share one Ready (one write)', async () => {
    const c = await started();
    const leader = c.leader()!;
    const storage = c.storages.get(leader.id)!;
    let saves = 0;
    const save = storage.save.bind(storage);
    storage.save = async (entries, hs) => {
      if (entries.length > 0) saves++;
      return save(entries, hs);
    };
    await Promise.all(Array.from({ length: 100 }, (_, k) => leader.propose(bytes(`w${k}`))));
    // 100 proposals in one turn: one Ready for the batch (plus at most a few for commit bookkeeping).
    expect(saves).toBeLessThanOrEqual(2);
  });

  test('a proposal on a follower is forwarded to the leader over the peer connection', async () => {
    const c = await started();
    const follower = [...c.nodes.values()].find((n) => !n.isLeader())!;
    const at = await follower.propose(bytes('via-follower'));
    expect(at).toBeGreaterThan(0);
    await waitFor(
      () => c.machines.get(follower.id)!.items.includes('via-follower'),
      2000,
      'follower to apply',
    );
  });

  test('a follower cut off from the leader cannot complete a write', async () => {
    const c = await started();
    const leader = c.leader()!;
    const follower = [...c.nodes.values()].find((n) => !n.isLeader())!;
    c.net.cut(leader.id, follower.id);
    await expect(follower.propose(bytes('nope'))).rejects.toBeInstanceOf(Error);
  });

  test('a follower whose connection to the leader is full answers OverloadedError, not NoLeaderError', async () => {
    const c = await started();
    const leader = c.leader()!;
    const follower = [...c.nodes.values()].find((n) => !n.isLeader())!;
    // The transport refuses the forward the way a full send queue does (outbound-link.ts).
    const transport = (follower as unknown as { opts: { transport: { request: unknown } } }).opts.transport;
    transport.request = () =>
      Promise.reject(new PeerUnavailableError(leader.id, 'the send queue is full', false, true));
    await expect(follower.propose(bytes('busy'))).rejects.toMatchObject({ code: 'ERR_OVERLOADED' });
    transport.request = () => Promise.reject(new PeerUnavailableError(leader.id, 'not connected'));
    await expect(follower.propose(bytes('gone'))).rejects.toMatchObject({ code: 'ERR_NO_LEADER' });
  });

  test('a full proposal queue answers OverloadedError instead of growing', async () => {
    const c = localCluster();
    cluster = c;
    for (const n of c.nodes.values()) await n.start();
    await waitFor(() => c.leader() !== undefined, 5000, 'a leader');
    const leader = c.leader()!;
    (leader as unknown as { opts: { proposalQueueMax: number } }).opts.proposalQueueMax = 10;
    const outcomes = await Promise.allSettled(
      Array.from({ length: 50 }, (_, k) => leader.propose(bytes(`o${k}`))),
    );
    const overloaded = outcomes.filter((o) => o.status === 'rejected' && o.reason instanceof OverloadedError);
    expect(overloaded.length).toBe(40);
  });

  test('with no leader known, a proposal fails at once with NoLeaderError (never proposed)', async () => {
    const c = localCluster();
    cluster = c;
    const n = c.nodes.get('1')!;
    await n.start();
    await expect(n.propose(bytes('alone'))).rejects.toBeInstanceOf(NoLeaderError);
  });

  test('a new leader is elected after the leader stops, and committed entries survive', async () => {
    const c = await started();
    const old = c.leader()!;
    await old.propose(bytes('before'));
    await old.stop();
    const others = [...c.nodes.values()].filter((n) => n !== old);
    await waitFor(() => others.some((n) => n.isLeader()), 5000, 'a new leader');
    const leader = others.find((n) => n.isLeader())!;
    await leader.propose(bytes('after'));
    expect(c.machines.get(leader.id)!.items).toEqual(['before', 'after']);
  });

  test('a follower that fell behind a compacted log is caught up by a snapshot', async () => {
    const c = await started({ snapshotEntries: 20, retainEntries: 5 });
    const leader = c.leader()!;
    const behind = [...c.nodes.values()].find((n) => !n.isLeader())!;
    c.net.isolate(behind.id);
    for (let k = 0; k < 100; k++) await leader.propose(bytes(`s${k}`));
    await waitFor(() => c.storages.get(leader.id)!.firstIndex() > 20, 2000, 'the leader to compact');
    c.net.heal();
    await waitFor(() => c.machines.get(behind.id)!.items.length === 100, 5000, 'the follower to catch up');
    expect(c.machines.get(behind.id)!.items).toEqual(c.machines.get(leader.id)!.items);
    expect(c.storages.get(behind.id)!.snapshot()).toBeDefined();
  });

  test('readBarrier on the leader and on a follower sees every write that completed before it', async () => {
    const c = await started();
    const leader = c.leader()!;
    const follower = [...c.nodes.values()].find((n) => !n.isLeader())!;
    await leader.propose(bytes('w1'));
    await follower.readBarrier();
    expect(c.machines.get(follower.id)!.items).toContain('w1');
    await leader.propose(bytes('w2'));
    await leader.readBarrier();
    expect(c.machines.get(leader.id)!.items).toEqual(['w1', 'w2']);
  });

  test('a deposed leader cut off in a minority never completes a read (ReadIndex + CheckQuorum)', async () => {
    const c = await started();
    const old = c.leader()!;
    await old.propose(bytes('v1'));
    c.net.isolate(old.id);
    // Observe the outcome now: the read may be refused before the majority has elected anyone.
    const outcome = old.readBarrier().then(
      () => 'served',
      (e: unknown) => e,
    );
    const others = [...c.nodes.values()].filter((n) => n !== old);
    await waitFor(() => others.some((n) => n.isLeader()), 5000, 'a new leader on the majority side');
    await others.find((n) => n.isLeader())!.propose(bytes('v2'));
    // The old leader's read is refused, never served with its stale state.
    expect(await outcome).toBeInstanceOf(Error);
    expect(c.machines.get(old.id)!.items).toEqual(['v1']);
  });

  test('leadership moves to the node asked for (also when asked at a follower), and writes continue', async () => {
    const c = await started();
    const old = c.leader()!;
    const target = [...c.nodes.values()].find((n) => n !== old)!;
    const other = [...c.nodes.values()].find((n) => n !== old && n !== target)!;
    expect(await old.transferLeadership(old.id)).toBe(old.id); // to itself: nothing to do
    expect(await old.transferLeadership(target.id)).toBe(target.id);
    expect(target.isLeader()).toBe(true);
    await target.propose(bytes('after-transfer'));
    // Asked at a follower, with no target: the most up-to-date other voter.
    const next = await other.transferLeadership();
    expect(next).not.toBe(target.id);
    await waitFor(() => c.nodes.get(next)!.isLeader(), 2000, 'the new leader');
  });
});
