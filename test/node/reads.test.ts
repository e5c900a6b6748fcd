import { afterEach, describe, expect, test } from 'vitest';
import { type LocalCluster, localCluster, startAll, waitFor } from './helpers.js';

// Thesis §6.4: a deposed leader that still believes it leads must not serve old data.
const bytes = (s: string) => new TextEncoder().encode(s);
let cluster: LocalCluster | undefined;

afterEach(async () => {
  await cluster?.stopAll();
  cluster = undefined;
});

async function started(leaseReads: boolean): Promise<LocalCluster> {
  cluster = localCluster({ leaseReads });
  return startAll(cluster);
}

describe('reads at a deposed leader {A} | {B, C}', () => {
  test('lease reads are served from the lease while it holds, without a heartbeat round', async () => {
    const c = await started(true);
    const a = c.leader()!;
    await a.propose(bytes('v1'));
    await new Promise((r) => setTimeout(r, 50)); // a few heartbeat rounds confirm the lease
    expect(await a.leaseRead()).toBe('lease');
    expect(c.machines.get(a.id)!.items).toEqual(['v1']);
  });

  test('after the majority overwrites the value, A never serves the old one as linearizable or lease; stale does', async () => {
    const c = await started(true);
    const a = c.leader()!;
    await a.propose(bytes('old'));
    c.net.isolate(a.id);
    const others = [...c.nodes.values()].filter((n) => n !== a);
    await waitFor(() => others.some((n) => n.isLeader()), 5000, 'a leader on the majority side');
    await others.find((n) => n.isLeader())!.propose(bytes('new'));
    // The lease (100 ms × 0.9) ran out long before the majority could elect (≥ 100 ms after
    // hearing from A) — so A must fall back to ReadIndex, which cannot complete.
    const [lease, linearizable] = await Promise.allSettled([a.leaseRead(), a.readBarrier()]);
    expect(lease.status === 'rejected' && lease.reason instanceof Error).toBe(true);
    expect(linearizable.status === 'rejected' && linearizable.reason instanceof Error).toBe(true);
    // A stale read at A shows the hazard the default protects against: the overwritten value.
    expect(c.machines.get(a.id)!.items).toEqual(['old']);
    // After healing, A serves the new value.
    c.net.heal();
    await waitFor(() => c.machines.get(a.id)!.items.includes('new'), 5000, 'A to catch up');
  });

  test('with leases off, consistency=lease is served as linearizable and says so', async () => {
    const c = await started(false);
    const a = c.leader()!;
    expect(await a.leaseRead()).toBe('linearizable');
  });

  test('a log read commits an empty entry and never reaches the state machine', async () => {
    const c = await started(false);
    const a = c.leader()!;
    await a.propose(bytes('x'));
    const before = a.status().appliedIndex;
    await a.logRead();
    expect(a.status().appliedIndex).toBeGreaterThan(before);
    expect(c.machines.get(a.id)!.items).toEqual(['x']);
  });

  test('a log read at a follower waits until the follower has applied the barrier (every earlier write)', async () => {
    const c = await started(false);
    const a = c.leader()!;
    const follower = [...c.nodes.values()].find((n) => n !== a)!;
    // Hold the follower's appends back so that the write is committed without it.
    c.net.cut(a.id, follower.id);
    await a.propose(bytes('w'));
    expect(c.machines.get(follower.id)!.items).not.toContain('w');
    c.net.heal();
    // Asked at once, before the follower has caught up: the read still sees the write.
    await follower.logRead();
    expect(c.machines.get(follower.id)!.items).toContain('w');
  });

  test('a follower restoring a snapshot from the leader serves no read, and claims no applied index, until the restore is done', async () => {
    // Every applied entry is snapshotted and nothing is kept behind it, so the snapshot the
    // follower gets ends at the leader's commit index: a read's index is then the snapshot's own.
    cluster = localCluster({ snapshotEntries: 1, retainEntries: 0 });
    const c = await startAll(cluster);
    const leader = c.leader()!;
    const behind = [...c.nodes.values()].find((n) => n !== leader)!;
    c.net.isolate(behind.id);
    const written = Array.from({ length: 30 }, (_, k) => `s${k}`);
    for (const w of written) await leader.propose(bytes(w));
    const leaderStore = c.storages.get(leader.id)!;
    await waitFor(
      () => leaderStore.snapshot()?.index === leader.status().commitIndex && leaderStore.firstIndex() > 10,
      5000,
      'the leader to snapshot its whole log',
    );
    const snapIndex = leaderStore.snapshot()!.index;

    const machine = c.machines.get(behind.id)!;
    const restore = machine.restore.bind(machine);
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let restoring = false;
    machine.restore = async (chunks) => {
      restoring = true;
      await gate;
      await restore(chunks);
    };
    c.net.heal();
    await waitFor(() => restoring, 5000, 'the follower to start restoring the snapshot');
    // Its core already holds the snapshot; its state machine does not.
    expect(behind.status().appliedIndex).toBeLessThan(snapIndex);
    let seen: string[] | undefined;
    const read = behind.readBarrier().then(() => {
      seen = [...machine.items];
    });
    await waitFor(() => behind.status().leader === leader.id, 2000, 'the follower to know the leader');
    await new Promise((r) => setTimeout(r, 300)); // time for a wrongly released read to complete
    expect(seen).toBeUndefined();
    release();
    await read;
    expect(seen).toEqual(written);
    expect(behind.status().appliedIndex).toBeGreaterThanOrEqual(snapIndex);
  });

  test('once its lease has run out on its own clock, a leader that still believes it leads falls back to ReadIndex', async () => {
    let skew = 0;
    const c = localCluster({ leaseReads: true, clock: () => performance.now() + skew });
    cluster = c;
    for (const n of c.nodes.values()) await n.start();
    await waitFor(() => c.leader() !== undefined, 5000, 'a leader');
    const a = c.leader()!;
    await a.propose(bytes('v'));
    await new Promise((r) => setTimeout(r, 50));
    expect(await a.leaseRead()).toBe('lease');
    // Cut A off and jump its lease clock past the lease (90 ms) before any tick could make it step down.
    c.net.isolate(a.id);
    skew = 1000;
    expect(a.isLeader()).toBe(true);
    const outcome = await Promise.race([
      a.leaseRead().then(
        (how) => `served as ${how}`,
        () => 'refused',
      ),
      new Promise<string>((r) => setTimeout(() => r('not served'), 300)),
    ]);
    // It needs a heartbeat round now, and the majority cannot answer: the read is not served.
    expect(outcome).not.toBe('served as lease');
  });
});
