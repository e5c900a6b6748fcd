import { ConfChangeError, UnknownMemberError } from '../raft/errors.js';
import { type ConfChangeTarget, isJoint, isQuorum, type Membership, members } from '../raft/membership.js';
import type { NodeId } from '../raft/types.js';

/** One change an operator asks for; several voters at once go through the core's joint consensus. */
export type MembershipChange =
  | { readonly type: 'add'; readonly id: NodeId; readonly address: string; readonly learner: boolean }
  | { readonly type: 'promote'; readonly id: NodeId }
  | { readonly type: 'remove'; readonly id: NodeId }
  /** A member moved: its peers dial `address` from now on (etcd's `member update`). */
  | { readonly type: 'update'; readonly id: NodeId; readonly address: string };

/** A member as the API lists it. */
export interface MemberView {
  readonly id: NodeId;
  readonly role: 'voter' | 'learner';
  /** Its peer address, when the configuration carries one. */
  readonly address: string | undefined;
  /** On the leader only: the highest log index known to be on that member. */
  readonly match: number | undefined;
  /** On the leader only: heard from within the last election timeout. */
  readonly active: boolean | undefined;
}

/** The configuration as the API shows it. */
export interface MembersView {
  readonly members: readonly MemberView[];
  /** A joint configuration C(old,new) is in force: a voter change is half done. */
  readonly joint: boolean;
  /** The voters of the old half while joint. */
  readonly outgoing: readonly NodeId[];
}

export function membersView(
  m: Membership,
  leader: { match(id: NodeId): number | undefined; active(id: NodeId): boolean | undefined },
): MembersView {
  return {
    members: members(m).map((id) => ({
      id,
      role: m.voters.includes(id) || m.outgoing.includes(id) ? 'voter' : 'learner',
      address: m.addresses?.[id],
      match: leader.match(id),
      active: leader.active(id),
    })),
    joint: isJoint(m),
    outgoing: [...m.outgoing],
  };
}

/** What the leader knows about its followers, for the safety checks below. */
export interface LeaderView {
  readonly self: NodeId;
  readonly lastIndex: number;
  /**
   * A change has not committed yet, or this leader has not committed an entry of its term: the
   * core refuses a change then, and the checks below would judge followers it has not heard from
   * yet as unreachable — so this is answered first, with the retryable code.
   */
  readonly changeInFlight: boolean;
  /** Heard from within the last election timeout (CheckQuorum's notion of active). */
  active(id: NodeId): boolean;
  match(id: NodeId): number;
}

/**
 * Turns an operator's change into the core's target, refusing what would hurt the cluster:
 * unknown ids, a second add of a member, promoting a voter or a lagging learner, removing the
 * last voter, and (like etcd's strict reconfiguration check) any change after which the voters
 * this leader currently hears from — a new voter counts only once caught up — are no quorum.
 */
export function planChange(
  current: Membership,
  change: MembershipChange,
  leader: LeaderView,
  promoteLagMax: number,
): ConfChangeTarget {
  if (leader.changeInFlight) {
    throw new ConfChangeError(
      'ERR_CONF_CHANGE_IN_PROGRESS',
      'a configuration change is in flight (or this leader is new); retry when it has committed',
    );
  }
  const voters = [...current.voters];
  const learners = [...current.learners];
  const addresses: Record<NodeId, string> = { ...(current.addresses ?? {}) };
  const isMember = voters.includes(change.id) || learners.includes(change.id);
  switch (change.type) {
    case 'add':
      if (isMember) throw new ConfChangeError('ERR_BAD_CONF_CHANGE', `node ${change.id} is already a member`);
      if (change.address === '')
        throw new ConfChangeError('ERR_BAD_CONF_CHANGE', `node ${change.id} needs a peer address`);
      (change.learner ? learners : voters).push(change.id);
      addresses[change.id] = change.address;
      break;
    case 'promote': {
      if (voters.includes(change.id))
        throw new ConfChangeError('ERR_BAD_CONF_CHANGE', `node ${change.id} is a voter already`);
      if (!learners.includes(change.id)) throw new UnknownMemberError(change.id, 'a learner');
      if (!leader.active(change.id)) {
        throw new ConfChangeError(
          'ERR_LEARNER_BEHIND',
          `learner ${change.id} has not answered the leader within an election timeout; start it (or check its peer address) and retry`,
        );
      }
      const lag = leader.lastIndex - leader.match(change.id);
      if (lag > promoteLagMax) {
        throw new ConfChangeError(
          'ERR_LEARNER_BEHIND',
          `learner ${change.id} is ${lag} entries behind the leader (at most ${promoteLagMax} to promote); retry once it has caught up`,
        );
      }
      learners.splice(learners.indexOf(change.id), 1);
      voters.push(change.id);
      break;
    }
    case 'remove':
      if (!isMember) throw new UnknownMemberError(change.id, 'a member');
      if (voters.includes(change.id) && voters.length === 1) {
        throw new ConfChangeError(
          'ERR_BAD_CONF_CHANGE',
          `node ${change.id} is the last voter; add another first`,
        );
      }
      if (voters.includes(change.id)) voters.splice(voters.indexOf(change.id), 1);
      else learners.splice(learners.indexOf(change.id), 1);
      delete addresses[change.id];
      break;
    case 'update':
      if (!isMember) throw new UnknownMemberError(change.id, 'a member');
      if (change.address === '')
        throw new ConfChangeError('ERR_BAD_CONF_CHANGE', `node ${change.id} needs a peer address`);
      if (addresses[change.id] === change.address) {
        throw new ConfChangeError('ERR_BAD_CONF_CHANGE', `node ${change.id} is at ${change.address} already`);
      }
      addresses[change.id] = change.address;
      break;
  }
  const caughtUp = (id: NodeId) =>
    id === leader.self || (leader.active(id) && leader.lastIndex - leader.match(id) <= promoteLagMax);
  const next: Membership = { voters, outgoing: [], learners };
  // A change of learners alone moves no quorum: nothing to lose.
  const sameVoters =
    voters.length === current.voters.length && voters.every((v) => current.voters.includes(v));
  if (!sameVoters && !isQuorum(next, caughtUp)) {
    const reachable = voters.filter(caughtUp);
    throw new ConfChangeError(
      'ERR_UNSAFE_CONF_CHANGE',
      `after this change only ${reachable.length} of ${voters.length} voters (${reachable.join(', ') || 'none'}) would be reachable and caught up — no quorum; bring members back (or add a learner and promote it once caught up) first`,
    );
  }
  return { voters, learners, addresses };
}
