import type { MembershipChange, MembersView } from '../node/membership-change.js';
import type { NodeId } from '../raft/types.js';
import { HttpError, httpErrorOf } from './http-errors.js';

/** What the members routes need from the node. */
export interface MembersNode {
  members(): MembersView;
  changeMembership(change: MembershipChange): Promise<MembersView>;
  status(): { readonly leader: NodeId | undefined };
}

/** The body of GET /v1/members and of every successful change. */
export function membersBody(view: MembersView, leader: NodeId | undefined): Record<string, unknown> {
  return {
    members: view.members.map((m) => ({
      id: Number(m.id),
      peerAddr: m.address ?? null,
      learner: m.role === 'learner',
      ...(m.match !== undefined ? { match: m.match } : {}),
      ...(m.active !== undefined ? { active: m.active } : {}),
    })),
    joint: view.joint,
    leader: leader === undefined ? null : Number(leader),
  };
}

/** A member id in a path or body: a positive integer, as everywhere in the API. */
export function parseMemberId(raw: unknown): NodeId {
  const n = typeof raw === 'string' && /^[0-9]+$/.test(raw) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
    throw new HttpError(
      400,
      'ERR_BAD_REQUEST',
      `a member id is a positive integer, not ${JSON.stringify(raw)}`,
    );
  }
  return String(n);
}

/** "host:port" or "[v6]:port" with a port in 1..65535. */
export function parsePeerAddr(raw: unknown): string {
  const ok =
    typeof raw === 'string' &&
    /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.test(raw) &&
    Number(raw.slice(raw.lastIndexOf(':') + 1)) >= 1 &&
    Number(raw.slice(raw.lastIndexOf(':') + 1)) <= 65535;
  if (!ok) {
    throw new HttpError(
      400,
      'ERR_BAD_REQUEST',
      `"peerAddr" must be HOST:PORT (e.g. "127.0.0.1:7104"), not ${JSON.stringify(raw)}`,
    );
  }
  return raw as string;
}

/** The parsed request of POST /v1/members: `{"id", "peerAddr", "learner"?}`. */
export function parseAddBody(body: unknown): MembershipChange {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(
      400,
      'ERR_BAD_REQUEST',
      'the body must be JSON like {"id": 4, "peerAddr": "127.0.0.1:7104"}',
    );
  }
  const b = body as { id?: unknown; peerAddr?: unknown; learner?: unknown };
  if (b.learner !== undefined && typeof b.learner !== 'boolean') {
    throw new HttpError(400, 'ERR_BAD_REQUEST', '"learner" must be true or false');
  }
  return {
    type: 'add',
    id: parseMemberId(b.id),
    address: parsePeerAddr(b.peerAddr),
    learner: b.learner === true,
  };
}

/**
 * Runs a change and maps its refusals to HTTP: 404 for an unknown id (the path names a member),
 * 409 when the cluster is not in a state to take it (a change in flight, a lagging learner, a
 * change that would lose the quorum), 400 for a change that can never be valid.
 */
export async function runChange(
  node: MembersNode,
  change: MembershipChange,
): Promise<Record<string, unknown>> {
  try {
    const view = await node.changeMembership(change);
    return membersBody(view, node.status().leader);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const message = (err as Error).message;
    if (code === 'ERR_UNKNOWN_MEMBER') throw new HttpError(404, 'ERR_UNKNOWN_MEMBER', message);
    if (code === 'ERR_CONF_CHANGE_IN_PROGRESS') throw new HttpError(409, code, message, {}, 1);
    if (code === 'ERR_LEARNER_BEHIND') throw new HttpError(409, code, message, {}, 1);
    if (code === 'ERR_UNSAFE_CONF_CHANGE') throw new HttpError(409, code, message);
    if (code === 'ERR_BAD_CONF_CHANGE') throw new HttpError(400, code, message);
    throw httpErrorOf(err);
  }
}
