import { Server } from 'node:net';

// Preloaded into every node the nemesis starts (`node --import tsx --import THIS …`). A node
// advertises its --peer-addr to the cluster — in --initial-cluster, in the POST of a join, and so
// in every configuration entry — and also listens on it. The harness wants peers to dial a proxy
// (the node's ingress, see peer-ingress.ts) and the node to listen elsewhere, as behind a NAT or a
// port forward: NEMESIS_PEER_LISTEN="ADVERTISED=REAL" makes a listen on port ADVERTISED bind port
// REAL instead. Nothing else in the node changes. The shim is test-only: Flotilla itself has no
// separate advertised peer address.

const spec = process.env.NEMESIS_PEER_LISTEN ?? '';
const m = /^(\d{1,5})=(\d{1,5})$/.exec(spec);
if (m === null) {
  throw new Error(
    `peer-listen-shim: NEMESIS_PEER_LISTEN must be "ADVERTISED=REAL", got ${JSON.stringify(spec)}`,
  );
}
const advertised = Number(m[1]);
const real = Number(m[2]);
const listen = Server.prototype.listen;

/** Rewrites `listen(ADVERTISED, host, cb)`, the form the peer transport uses; other calls pass through. */
Server.prototype.listen = function (this: Server, ...args: unknown[]) {
  if (args[0] === advertised) args[0] = real;
  return (listen as (...a: unknown[]) => Server).apply(this, args);
} as typeof Server.prototype.listen;
