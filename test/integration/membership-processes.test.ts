import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FlotillaClient, type MembersJson } from '../../src/client/client.js';
import { freePort, ProcessCluster, until } from './process-cluster.js';
import { writeLoad } from './write-load.js';

// Grow 3 → 5, shrink 5 → 3 (the leader among the removed), replace a dead node — real processes
// under a steady write load; no acknowledged write may be lost. Prints the longest write pause of
// each step (docs/membership.md).
let cluster: ProcessCluster;
let client: FlotillaClient;

beforeAll(async () => {
  cluster = await ProcessCluster.create(3, 'members');
  await cluster.waitLeader(20_000);
  client = new FlotillaClient({ endpoints: cluster.endpoints(), timeoutMs: 2000, attempts: 30 });
}, 30_000);

afterAll(async () => {
  await cluster?.stop();
});

const voters = (v: MembersJson) =>
  v.members
    .filter((m) => !m.learner)
    .map((m) => String(m.id))
    .sort();

async function membersAt(url: string): Promise<MembersJson | undefined> {
  try {
    const r = await fetch(`${url}/v1/members`, { signal: AbortSignal.timeout(1000) });
    return r.ok ? ((await r.json()) as MembersJson) : undefined;
  } catch {
    return undefined;
  }
}

/** Waits until the leader lists exactly `ids` as voters, none joint. */
async function untilVoters(ids: string[], what: string): Promise<void> {
  await until(
    async () => {
      const leader = await cluster.leader();
      if (leader === undefined) return false;
      const v = await membersAt(cluster.node(leader).clientUrl);
      return v !== undefined && !v.joint && voters(v).join() === [...ids].sort().join();
    },
    60_000,
    what,
  );
}

describe('membership changes on real processes under load', () => {
  test('grow 3 → 5, shrink 5 → 3 removing the leader, replace a dead node: no acknowledged write lost', async () => {
    const load = writeLoad(() => (k, v) => client.put(k, v), 'm', 64);
    const report: string[] = [];
    const settle = async (what: string) => {
      const before = load.writes();
      await until(() => load.writes() >= before + 30, 30_000, `writes after ${what}`);
      report.push(`${what}: longest write pause ${load.step().toFixed(0)} ms`);
    };
    await until(() => load.writes() >= 400, 30_000, 'a log long enough to be compacted (snapshot every 300)');
    load.step();

    // Grow: each new node joins as a learner through a follower's URL, catches up by snapshot,
    // asks to be promoted, and becomes a voter.
    const urls = () => cluster.endpoints();
    await cluster.join('4', urls()[1]!);
    await untilVoters(['1', '2', '3', '4'], 'node 4 to be promoted');
    client = new FlotillaClient({ endpoints: cluster.endpoints(), timeoutMs: 2000, attempts: 30 });
    await settle('grow 3 → 4 (join 4, promote)');
    await cluster.join('5', urls()[0]!);
    await untilVoters(['1', '2', '3', '4', '5'], 'node 5 to be promoted');
    client = new FlotillaClient({ endpoints: cluster.endpoints(), timeoutMs: 2000, attempts: 30 });
    await settle('grow 4 → 5 (join 5, promote)');
    const five = await membersAt(cluster.node('5').clientUrl);
    expect(five?.members.map((m) => m.peerAddr)).not.toContain(null); // 5 knows everyone's address

    // Shrink: remove the leader first (it leads until C(new) commits, then steps down), then 4.
    const oldLeader = (await cluster.leader())!;
    const afterLeader = await client.removeMember(Number(oldLeader));
    expect(afterLeader.members.map((m) => String(m.id))).not.toContain(oldLeader);
    await cluster.waitLeader(20_000, oldLeader);
    await cluster.kill9(oldLeader);
    await settle(`shrink 5 → 4 (remove the leader, ${oldLeader})`);
    const second = ['4', '5', '1', '2', '3'].find((id) => id !== oldLeader)!;
    const leaderNow = (await cluster.leader())!;
    const removeNext =
      second === leaderNow
        ? ['4', '5', '1', '2', '3'].find((id) => id !== oldLeader && id !== leaderNow)!
        : second;
    await client.removeMember(Number(removeNext));
    await cluster.kill9(removeNext);
    await settle(`shrink 4 → 3 (remove ${removeNext})`);
    const remaining = ['1', '2', '3', '4', '5'].filter((id) => id !== oldLeader && id !== removeNext);
    await untilVoters(remaining, 'three voters');

    // Replace a dead node: kill -9 a follower, remove it, join a fresh node 6 in its place.
    const leader = (await cluster.leader())!;
    const dead = remaining.find((id) => id !== leader)!;
    await cluster.kill9(dead);
    await client.removeMember(Number(dead));
    await cluster.join('6', cluster.node(leader).clientUrl);
    await untilVoters([...remaining.filter((id) => id !== dead), '6'], 'node 6 to replace the dead node');
    client = new FlotillaClient({ endpoints: cluster.endpoints(), timeoutMs: 2000, attempts: 30 });
    await settle(`replace dead ${dead} by a fresh 6`);

    await load.stop();
    console.log(`membership under load (${load.writes()} writes):\n  ${report.join('\n  ')}`);
    for (const [k, v] of load.acked) expect((await client.get(k))?.value, k).toBe(v);
    // The new node holds the whole state, learned by snapshot and log.
    const six = new FlotillaClient({ endpoints: [cluster.node('6').clientUrl] });
    for (const [k, v] of load.acked) expect((await six.get(k))?.value, `${k} at node 6`).toBe(v);
  }, 240_000);

  test('a member that moved: kill it, record its new peer address (member update), restart it there; it catches up', async () => {
    const leader = await cluster.waitLeader(20_000);
    const view = await client.members();
    const mover = view.members.map((m) => String(m.id)).find((id) => id !== leader)!;
    await cluster.kill9(mover);
    const port = await freePort();
    const moved = await client.updateMember(Number(mover), `127.0.0.1:${port}`);
    expect(moved.members.find((m) => String(m.id) === mover)?.peerAddr).toBe(`127.0.0.1:${port}`);
    cluster.move(mover, port);
    cluster.start(mover);
    await client.put('moved', 'y');
    // Peers reach it only at the new address: reading the write through it proves it caught up.
    const there = new FlotillaClient({
      endpoints: [cluster.node(mover).clientUrl],
      timeoutMs: 2000,
      attempts: 3,
    });
    await until(
      async () => (await there.get('moved').catch(() => undefined))?.value === 'y',
      30_000,
      `node ${mover} to catch up at its new address`,
    );
  }, 60_000);

  test('a removed node restarted with its old data folder and --join is added again and catches up', async () => {
    const leader = await cluster.waitLeader(20_000);
    const view = await client.members();
    const removed = view.members.map((m) => String(m.id)).find((id) => id !== leader)!;
    const before = view.members.filter((m) => !m.learner).map((m) => String(m.id));
    await client.removeMember(Number(removed));
    await cluster.terminate(removed);
    await client.put('while-out', 'z');
    // Same id, same address, the data folder it had.
    cluster.node(removed).join = cluster.node(leader).clientUrl;
    cluster.start(removed);
    await untilVoters(before, `node ${removed} to be a voter again`);
    expect(cluster.node(removed).stderr).toMatch(
      /no longer a member of the cluster: asking to be added again/,
    );
    const there = new FlotillaClient({
      endpoints: [cluster.node(removed).clientUrl],
      timeoutMs: 2000,
      attempts: 3,
    });
    await until(
      async () => (await there.get('while-out').catch(() => undefined))?.value === 'z',
      30_000,
      `node ${removed} to catch up`,
    );
  }, 90_000);
});
