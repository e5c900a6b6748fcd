// LocalNetwork, the in-process NodeTransport, mirrors TcpTransport's removePeer/setPeer: a
// removed peer and this node stop talking both ways until setPeer names the peer again.
import { expect, test } from 'vitest';
import { LocalNetwork } from '../../src/node/local-network.js';
import type { NodeTransport } from '../../src/node/transport.js';
import type { Message } from '../../src/raft/messages.js';
import { heartbeat, waitFor } from './helpers.js';

async function started(net: LocalNetwork, id: string): Promise<{ t: NodeTransport; inbox: Message[] }> {
  const t = net.transport(id);
  const inbox: Message[] = [];
  t.onMessage((m) => inbox.push(m));
  await t.start();
  return { t, inbox };
}

test('a removed peer neither receives from nor reaches this node until setPeer names it again', async () => {
  const net = new LocalNetwork();
  const a = await started(net, 'a');
  const b = await started(net, 'b');
  const c = await started(net, 'c');
  a.t.removePeer!('b');
  a.t.send([heartbeat('a', 'b', 1), heartbeat('a', 'c', 1)]);
  b.t.send([heartbeat('b', 'a', 1)]);
  // Deliveries run in the order they were sent: once c's marker is in, the others have run.
  c.t.send([heartbeat('c', 'a', 1)]);
  await waitFor(() => a.inbox.length === 1 && c.inbox.length === 1, 5_000, 'the marker');
  expect(a.inbox.map((m) => m.from)).toEqual(['c']);
  expect(b.inbox).toEqual([]);
  await expect(b.t.request('a', new Uint8Array([1]), 1_000)).rejects.toMatchObject({
    code: 'ERR_PEER_UNAVAILABLE',
  });

  a.t.setPeer!('b', '127.0.0.1:7102');
  a.t.send([heartbeat('a', 'b', 2)]);
  b.t.send([heartbeat('b', 'a', 2)]);
  await waitFor(() => a.inbox.length === 2 && b.inbox.length === 1, 5_000, 'traffic after setPeer');
});
