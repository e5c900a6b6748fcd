import type { NodeId } from '../raft/types.js';
import { type HandshakeFrame, PROTOCOL_VERSION } from './frames.js';

/** What a handshake must match on this node. */
export interface HandshakeExpectation {
  readonly clusterId: string;
  /** This node: the handshake must be addressed to it. */
  readonly id: NodeId;
  /** Whether the sender may join (a configured peer; on a reply, the node we dialled). */
  isPeer(id: NodeId): boolean;
}

/**
 * Why a handshake is refused, or undefined when it is accepted. A peer is joined only when it
 * speaks our protocol version, belongs to our cluster, is a node we know (not ourselves) and
 * meant to reach this node, not another one at the same address.
 */
export function handshakeProblem(h: HandshakeFrame, expect: HandshakeExpectation): string | undefined {
  if (h.version !== PROTOCOL_VERSION) {
    return `it speaks protocol version ${h.version} and this node speaks version ${PROTOCOL_VERSION}`;
  }
  if (h.clusterId !== expect.clusterId) {
    return `wrong cluster id ${quote(h.clusterId)} (this node belongs to cluster ${quote(expect.clusterId)})`;
  }
  if (h.to !== expect.id)
    return `it is addressed to node ${quote(h.to)} but this is node ${quote(expect.id)}`;
  if (h.from === expect.id || !expect.isPeer(h.from)) return `unknown node id ${quote(h.from)}`;
  return undefined;
}

function quote(s: string): string {
  return JSON.stringify(s);
}
