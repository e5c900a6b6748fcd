// /v1/members over HTTP and through FlotillaClient (docs/api.md, docs/membership.md).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FlotillaApiError, FlotillaClient } from '../../src/client/client.js';
import { type LocalKvNode, settled, startLocalKv } from './local-kv.js';

let cluster: Awaited<ReturnType<typeof startLocalKv>>;
let leader: LocalKvNode;
let follower: LocalKvNode;

beforeAll(async () => {
  cluster = await startLocalKv();
  ({ leader, follower } = await settled(cluster));
  await leader.node.propose(new TextEncoder().encode('warm-up')); // an entry of the leader's term has committed
});

afterAll(async () => {
  await cluster.stop();
});

async function call(base: string, method: string, path: string, body?: string) {
  const res = await fetch(`${base}${path}`, {
    method,
    body,
    headers: { 'Content-Type': 'application/json' },
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
}

describe('/v1/members', () => {
  test('GET lists every member with its address; the leader adds match and active', async () => {
    const atLeader = await call(leader.url, 'GET', '/v1/members');
    expect(atLeader.status).toBe(200);
    expect(atLeader.json).toMatchObject({ joint: false, leader: Number(leader.id) });
    expect(atLeader.json.members).toHaveLength(3);
    for (const m of atLeader.json.members) {
      expect(m).toMatchObject({ peerAddr: `local:${m.id}`, learner: false, active: true });
      expect(m.match).toEqual(expect.any(Number));
    }
    const atFollower = await call(follower.url, 'GET', '/v1/members');
    expect(atFollower.json.members.map((m: { id: number }) => m.id)).toEqual([1, 2, 3]);
    expect(atFollower.json.members[0].match).toBeUndefined();
  });

  test('bad requests get 400 with a message that says what is wrong; unknown ids 404', async () => {
    const noAddr = await call(follower.url, 'POST', '/v1/members', '{"id": 4}');
    expect(noAddr.status).toBe(400);
    expect(noAddr.json.message).toMatch(/peerAddr/);
    const badId = await call(follower.url, 'POST', '/v1/members', '{"id": "four", "peerAddr": "h:1"}');
    expect(badId.status).toBe(400);
    expect((await call(follower.url, 'POST', '/v1/members', 'not json')).status).toBe(400);
    const unknown = await call(follower.url, 'DELETE', '/v1/members/9');
    expect(unknown.status).toBe(404);
    expect(unknown.json.code).toBe('ERR_UNKNOWN_MEMBER');
    const voter = await call(follower.url, 'POST', '/v1/members/2/promote');
    expect(voter.status).toBe(400);
    expect(voter.json).toMatchObject({ code: 'ERR_BAD_CONF_CHANGE' });
    expect((await call(follower.url, 'PATCH', '/v1/members/2')).status).toBe(405);
  });

  test('the client adds a learner and removes it (asked at a follower, done by the leader)', async () => {
    const client = new FlotillaClient({ endpoints: [follower.url] });
    const added = await client.addMember({ id: 4, peerAddr: '127.0.0.1:7104', learner: true });
    expect(added.members.find((m) => m.id === 4)).toMatchObject({
      learner: true,
      peerAddr: '127.0.0.1:7104',
    });
    const twice = await client
      .addMember({ id: 4, peerAddr: '127.0.0.1:7104', learner: true })
      .catch((e) => e);
    expect(twice).toBeInstanceOf(FlotillaApiError);
    expect(twice).toMatchObject({ code: 'ERR_BAD_CONF_CHANGE', status: 400 });
    // A learner that never caught up cannot be promoted.
    const behind = await client.promoteMember(4).catch((e) => e);
    expect(behind).toMatchObject({ code: 'ERR_LEARNER_BEHIND', status: 409 });
    const removed = await client.removeMember(4);
    expect(removed.members.map((m) => m.id)).toEqual([1, 2, 3]);
    expect((await client.members()).members).toHaveLength(3);
  });

  test('PUT /v1/members/{id} records a member\u2019s new peer address; refusals are clear', async () => {
    const moved = await call(follower.url, 'PUT', '/v1/members/3', '{"peerAddr": "127.0.0.1:7999"}');
    expect(moved.status).toBe(200);
    expect(moved.json.members.find((m: { id: number }) => m.id === 3).peerAddr).toBe('127.0.0.1:7999');
    const same = await call(follower.url, 'PUT', '/v1/members/3', '{"peerAddr": "127.0.0.1:7999"}');
    expect(same.status).toBe(400);
    expect(same.json.message).toMatch(/already/);
    expect((await call(follower.url, 'PUT', '/v1/members/9', '{"peerAddr": "h:1"}')).status).toBe(404);
    expect((await call(follower.url, 'PUT', '/v1/members/3', '{"peerAddr": "nope"}')).status).toBe(400);
    expect((await call(follower.url, 'PUT', '/v1/members/3', '[]')).status).toBe(400);
    // The cluster goes on (in this process peers are reached by id, not address).
    const client = new FlotillaClient({ endpoints: [leader.url] });
    await client.put('after-move', 'x');
    await client.updateMember(3, 'local:3');
  });
});
