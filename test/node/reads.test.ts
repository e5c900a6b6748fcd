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
