import { createServer } from 'node:net';

/**
 * Ports for the nodes are taken below Linux's ephemeral range (32768 and up): a node killed with
 * kill -9 must get its port back on restart, and a port in the ephemeral range can meanwhile be
 * taken as the source port of one of the many connections the proxies open.
 */
const PORT_LO = 20_000;
const PORT_HI = 32_000;
const ATTEMPTS_MAX = 200;

/** Whether 127.0.0.1:`port` can be listened on now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** `count` distinct free loopback ports outside the ephemeral range. */
export async function stablePorts(count: number): Promise<number[]> {
  const out: number[] = [];
  for (let attempt = 0; attempt < ATTEMPTS_MAX && out.length < count; attempt++) {
    const port = PORT_LO + Math.floor(Math.random() * (PORT_HI - PORT_LO));
    if (out.includes(port)) continue;
    if (await canListen(port)) out.push(port);
  }
  if (out.length < count) {
    throw new Error(`found only ${out.length} of ${count} free ports in ${PORT_LO}-${PORT_HI}`);
  }
  return out;
}
