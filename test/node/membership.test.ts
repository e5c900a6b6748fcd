// Membership changes through RaftNode (thesis §4.3): add a learner, promote it once caught up,
// add and remove voters, remove the leader; refusals with clear errors.
import { afterEach, describe, expect, test } from 'vitest';
import { ConfChangeError, UnknownMemberError } from '../../src/raft/errors.js';
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

const roles = (c: LocalCluster, id: string) =>
  Object.fromEntries(
    c.nodes
      .get(id)!
      .members()
      .members.map((m) => [m.id, m.role]),
  );

async function refusal(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected the change to be refused');
}

describe('membership changes on RaftNode', () => {
  test('a new node joins as a learner, catches up, is promoted and then counts as a voter', async () => {
    const c = await started();
    const leader = c.leader()!;
    for (let k = 0; k < 20; k++) await leader.propose(bytes(`before-${k}`));
    const four = await c.join('4');
    const added = await leader.changeMembership({ type: 'add', id: '4', address: 'local:4', learner: true });
    expect(added.members.find((m) => m.id === '4')).toMatchObject({ role: 'learner', address: 'local:4' });
    await waitFor(() => c.machines.get('4')!.items.length === 20, 5000, 'the learner to catch up');
    expect(roles(c, '4')).toEqual({ '1': 'voter', '2': 'voter', '3': 'voter', '4': 'learner' });

    const promoted = await leader.changeMembership({ type: 'promote', id: '4' });
    expect(promoted.joint).toBe(false); // resolved only once C(new) committed
    expect(promoted.members.filter((m) => m.role === 'voter').map((m) => m.id)).toEqual(['1', '2', '3', '4']);
    expect(four.status().voters).toContain('4');
    // Only a voter can lead: leadership moves to the promoted node, and writes go on.
    expect(await leader.transferLeadership('4')).toBe('4');
    await four.propose(bytes('led-by-4'));
    await waitFor(() => c.machines.get(leader.id)!.items.includes('led-by-4'), 2000, 'the write everywhere');
  });

  test('a change asked at a follower goes to the leader; a learner is refused promotion while behind', async () => {
    const c = await started({ promoteLagMax: 5 });
    await c.leader()!.propose(bytes('w')); // the leader has committed an entry of its term (§4.3 fix)
    const follower = [...c.nodes.values()].find((n) => !n.isLeader())!;
    await c.join('4');
    await follower.changeMembership({ type: 'add', id: '4', address: 'local:4', learner: true });
    await waitFor(
      () =>
        c
          .leader()!
          .members()
          .members.some((m) => m.id === '4'),
      2000,
      'the learner',
    );
    c.net.isolate('4');
    const leader = c.leader()!;
    for (let k = 0; k < 20; k++) await leader.propose(bytes(`w${k}`));
    const err = await refusal(follower.changeMembership({ type: 'promote', id: '4' }));
    expect(err.code).toBe('ERR_LEARNER_BEHIND');
    expect(err.message).toMatch(/behind the leader/);
    c.net.heal();
    await waitFor(() => c.machines.get('4')!.items.length === 21, 5000, 'the learner to catch up');
    const done = await follower.changeMembership({ type: 'promote', id: '4' });
    expect(done.members.find((m) => m.id === '4')!.role).toBe('voter');
  });

  test('refusals: unknown ids, adding a member twice, promoting a voter, a second change in flight', async () => {
    const c = await started();
    const leader = c.leader()!;
    await leader.propose(bytes('w'));
    await expect(leader.changeMembership({ type: 'remove', id: '9' })).rejects.toBeInstanceOf(
      UnknownMemberError,
    );
    await expect(leader.changeMembership({ type: 'promote', id: '9' })).rejects.toBeInstanceOf(
      UnknownMemberError,
    );
    const twice = await refusal(
      leader.changeMembership({ type: 'add', id: '2', address: 'local:2', learner: false }),
    );
    expect(twice).toBeInstanceOf(ConfChangeError);
    expect(twice.message).toMatch(/already a member/);
    expect((await refusal(leader.changeMembership({ type: 'promote', id: '2' }))).message).toMatch(
      /voter already/,
    );
    // Two changes in one turn: the second finds the first in flight.
    const first = leader.changeMembership({ type: 'add', id: '4', address: 'local:4', learner: true });
    const second = await refusal(
      leader.changeMembership({ type: 'add', id: '5', address: 'local:5', learner: true }),
    );
    expect(second.code).toBe('ERR_CONF_CHANGE_IN_PROGRESS');
    await first;
  });

  test('a change that would leave no quorum of reachable voters is refused (strict reconfiguration)', async () => {
    const c = await started();
    const leader = c.leader()!;
    const [down, up] = ['1', '2', '3'].filter((id) => id !== leader.id);
    c.net.isolate(down!);
    // Within an election timeout or two the leader no longer counts `down` as active.
    await waitFor(
      () => leader.members().members.find((m) => m.id === down)?.active === false,
      2000,
      'the leader to see the cut-off voter as inactive',
    );
    const removeLive = await refusal(leader.changeMembership({ type: 'remove', id: up! }));
    expect(removeLive.code).toBe('ERR_UNSAFE_CONF_CHANGE');
    const addVoter = await refusal(
      leader.changeMembership({ type: 'add', id: '4', address: 'local:4', learner: false }),
    );
    expect(addVoter.code).toBe('ERR_UNSAFE_CONF_CHANGE');
    // A learner moves no quorum: adding one is fine with a voter down.
    await leader.changeMembership({ type: 'add', id: '4', address: 'local:4', learner: true });
    // Removing the unreachable voter is safe: {leader, up} both answer.
    const after = await leader.changeMembership({ type: 'remove', id: down! });
    expect(
      after.members
        .filter((m) => m.role === 'voter')
        .map((m) => m.id)
        .sort(),
    ).toEqual([leader.id, up!].sort());
    await leader.propose(bytes('two-voters'));
  });

  test('removing the leader: it leads until C(new) commits, then steps down and the rest elect', async () => {
    const c = await started();
    const old = c.leader()!;
    await old.propose(bytes('a'));
    const view = await old.changeMembership({ type: 'remove', id: old.id });
    expect(view.members.map((m) => m.id)).not.toContain(old.id);
    const rest = [...c.nodes.values()].filter((n) => n !== old);
    await waitFor(() => rest.some((n) => n.isLeader()), 5000, 'a leader among the remaining voters');
    const next = rest.find((n) => n.isLeader())!;
    await next.propose(bytes('b'));
    expect(old.isLeader()).toBe(false);
    await waitFor(() => rest.every((n) => c.machines.get(n.id)!.items.includes('b')), 2000, 'b everywhere');
    // The removed node says so, once.
    const said = c.warnings.get(old.id)!.filter((w) => w.includes('was removed from the cluster'));
    expect(said).toHaveLength(1);
  });
});

test('a change still waiting to commit when the node stops is answered at once: outcome unknown', async () => {
  cluster = localCluster();
  const c = await startAll(cluster);
  const leader = c.leader()!;
  await leader.propose(bytes('w'));
  for (const n of c.nodes.values()) if (n !== leader) c.net.isolate(n.id);
  const pending = leader
    .changeMembership({ type: 'add', id: '4', address: 'local:4', learner: true })
    .catch((e: unknown) => e);
  await leader.stop();
  expect(await pending).toMatchObject({ code: 'ERR_TIMEOUT' });
});

test('a removed follower learns of its removal (it receives the C(new) that drops it) and says so once', async () => {
  cluster = localCluster();
  const c = await startAll(cluster);
  const leader = c.leader()!;
  await leader.propose(bytes('w'));
  const gone = [...c.nodes.values()].find((n) => n !== leader)!;
  await leader.changeMembership({ type: 'remove', id: gone.id });
  const said = () => c.warnings.get(gone.id)!.filter((w) => w.includes('was removed from the cluster'));
  await waitFor(() => said().length === 1, 2000, 'the removed follower to say it was removed');
  expect(gone.members().members.map((m) => m.id)).not.toContain(gone.id);
});
