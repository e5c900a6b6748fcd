import { assert, assertNever } from './assert.js';
import { type RaftConfig, type ResolvedConfig, resolveConfig } from './config.js';
import {
  ConfChangeError,
  EmptyProposalError,
  NotLeaderError,
  TransferInProgressError,
  UnknownMemberError,
} from './errors.js';
import { stepFollower } from './follower.js';
import {
  appendConfig,
  broadcastAppend,
  broadcastHeartbeat,
  maybeCommit,
  quorumOf,
  sendAppend,
  sendTimeoutNow,
  stepLeader,
  tickLeader,
} from './leader.js';
import {
  addressesOf,
  type ConfChangeTarget,
  isJoint,
  isQuorum,
  isVoter,
  type Membership,
  members,
  simpleMembership,
  voteResult,
} from './membership.js';
import type { Message, VoteMessage, VoteResponseMessage } from './messages.js';
import { Progress, ProgressState } from './progress.js';
import { VoteResult } from './quorum.js';
import { RaftLog } from './raft-log.js';
import { ReadOnly, type ReadState } from './read-only.js';
import {
  EMPTY_DATA,
  type Entry,
  EntryKind,
  type HardState,
  type Index,
  index,
  NONE,
  type NodeId,
  Role,
  type Term,
  term,
} from './types.js';

/**
 * The Raft state machine (Figure 2 plus the thesis' PreVote and CheckQuorum). Pure: it changes
 * only its own fields and queues messages in `msgs`; RawNode hands them to the host via Ready.
 * Each role steps messages through its own function (STYLE.md §3): the leader's in leader.ts,
 * the follower's in follower.ts, the candidate's here with the elections. Members marked
 * `@internal` are public only for those files; nothing outside src/raft may use them.
 */
export class Raft {
  readonly id: NodeId;
  readonly config: ResolvedConfig;
  readonly log: RaftLog;
  term: Term;
  vote: NodeId;
  lead: NodeId = NONE;
  role: Role = Role.Follower;
  /** The leader's view of every voter, itself included; empty unless leader. */
  readonly progress = new Map<NodeId, Progress>();
  /** Votes received in the current (pre-)election, own vote included. */
  readonly votes = new Map<NodeId, boolean>();
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  /** Messages produced since the last Ready. */
  msgs: Message[] = [];
  /** ReadIndex rounds in progress (leader only). */
  readonly readOnly = new ReadOnly();
  /** Reads confirmed since the last Ready. */
  readStates: ReadState[] = [];
  /** Reads that will never be confirmed here (leadership lost) since the last Ready. */
  readsDropped: number[] = [];
  /** The voter this leader is handing leadership to (thesis §3.10), or NONE. */
  leadTransferee: NodeId = NONE;
  /** Ticks since the transfer started; it is abandoned after an election timeout. @internal */
  transferElapsed = 0;
  /** The transfer hands over a leader that C(new) removed: step down when it ends. @internal */
  stepDownAfterTransfer = false;
  /** Reads that wait for this leader's first commit in its term (thesis §6.4). @internal */
  readsBeforeCommit: number[] = [];
  /** Heartbeat rounds broadcast by this leader in its term; each carries its number as context. @internal */
  heartbeatRound = 0;
  /**
   * The newest heartbeat round a majority (this leader included) answered in this term. The host
   * knows when it sent that round: a leader lease runs from then (thesis §6.4.1).
   */
  leaseRound = 0;
  /** A leadership transfer began in this term: no lease until the next term. @internal */
  leaseRevoked = false;
  /** With leases on, a node that just started refuses votes for an election timeout (it may have promised one). */
  private quietAfterStart: boolean;

  constructor(config: RaftConfig) {
    this.config = resolveConfig(config);
    this.id = this.config.id;

    const hs = this.config.storage.hardState();
    this.log = new RaftLog(
      this.config.storage,
      this.config.applied ?? index(0),
      simpleMembership(this.config.voters, this.config.addresses),
    );
    this.term = hs.term;
    this.vote = hs.vote;
    this.quietAfterStart = this.config.leaseReads;
    this.becomeFollower(this.term, NONE);
  }

  /** Who votes and who learns: the latest configuration in the log (§4.1). */
  get membership(): Membership {
    return this.log.configs.latest();
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.commit };
  }

  // ---- inputs -------------------------------------------------------------------------------

  /** Advances logical time by one tick. */
  tick(): void {
    if (this.role === Role.Leader) tickLeader(this);
    else this.tickElection();
  }

  /**
   * Changes the cluster to `target` voters and learners (thesis §4.3). A change of voters goes
   * through the joint configuration C(old,new) — decisions need majorities of both — and the
   * leader appends C(new) once the joint entry commits; a change of learners alone is one entry.
   * A configuration takes effect when appended (§4.1). Refused while another change is in flight
   * and until this leader has committed an entry of its own term. Returns the entry's index.
   */
  proposeConfChange(target: ConfChangeTarget): Index {
    if (this.role !== Role.Leader) throw new NotLeaderError(this.lead === NONE ? undefined : this.lead);
    if (this.leadTransferee !== NONE) throw new TransferInProgressError(this.leadTransferee);
    const current = this.membership;
    const inFlight = isJoint(current) || this.log.configs.latestIndex() > this.log.commit;
    if (inFlight || this.log.term(this.log.commit) !== this.term) {
      throw new ConfChangeError(
        'ERR_CONF_CHANGE_IN_PROGRESS',
        'a configuration change is in flight (or this leader is new); retry when it has committed',
      );
    }
    const voters = [...target.voters];
    const learners = [...target.learners];
    if (voters.length === 0)
      throw new ConfChangeError('ERR_BAD_CONF_CHANGE', 'a configuration needs at least one voter');
    if (new Set([...voters, ...learners]).size !== voters.length + learners.length) {
      throw new ConfChangeError(
        'ERR_BAD_CONF_CHANGE',
        'each member must appear once, as a voter or as a learner',
      );
    }
    const sameVoters =
      voters.length === current.voters.length && voters.every((v) => current.voters.includes(v));
    const next: Membership = { voters, outgoing: sameVoters ? [] : [...current.voters], learners };
    const addresses = target.addresses ?? current.addresses;
    return appendConfig(
      this,
      addresses === undefined ? next : { ...next, addresses: addressesOf(next, addresses)! },
    );
  }

  /**
   * Hands leadership to voter `to` (thesis §3.10): stop taking proposals, bring `to` up to date,
   * then tell it to campaign at once (TimeoutNow). Abandoned if it has not completed within an
   * election timeout; the leader then takes proposals again.
   */
  transferLeadership(to: NodeId): void {
    if (this.role !== Role.Leader) throw new NotLeaderError(this.lead === NONE ? undefined : this.lead);
    if (!isVoter(this.membership, to)) throw new UnknownMemberError(to);
    if (to === this.id) {
      this.leadTransferee = NONE;
      return;
    }
    if (this.leadTransferee === to) return;
    this.leadTransferee = to;
    this.transferElapsed = 0;
    const pr = this.progress.get(to)!;
    if (pr.match === this.log.lastIndex()) sendTimeoutNow(this, to);
    else sendAppend(this, to, pr, false);
  }

  /** Starts an election now (PreVote first when enabled), as an election timeout would. */
  campaign(): void {
    if (this.role === Role.Leader || !this.mayCampaign()) return;
    this.startElection(this.config.preVote);
  }

  /**
   * Appends client commands to the leader's log. Returns the index of the first new entry; every
   * entry carries the current term. Throws NotLeaderError on any other role.
   */
  propose(data: readonly Uint8Array[]): { term: Term; index: Index } {
    if (this.role !== Role.Leader) throw new NotLeaderError(this.lead === NONE ? undefined : this.lead);
    if (data.length === 0) throw new EmptyProposalError();
    if (this.leadTransferee !== NONE) throw new TransferInProgressError(this.leadTransferee);
    const first = index(this.log.lastIndex() + 1);
    const entries: Entry[] = new Array(data.length);
    for (let k = 0; k < data.length; k++) {
      entries[k] = { term: this.term, index: index(first + k), kind: EntryKind.Normal, data: data[k]! };
    }
    this.log.append(entries);
    broadcastAppend(this, false);
    return { term: this.term, index: first };
  }

  /**
   * A linearizable read (ReadIndex, thesis §6.4): the leader records its commit index and
   * confirms with one heartbeat round that it still leads; the read is released as a ReadState
   * in a later Ready. `request` is the host's id for the read. Throws NotLeaderError elsewhere.
   */
  readIndex(request: number): void {
    if (this.role !== Role.Leader) throw new NotLeaderError(this.lead === NONE ? undefined : this.lead);
    // A new leader does not know the latest commit index until an entry of its term commits.
    if (this.log.term(this.log.commit) !== this.term) {
      this.readsBeforeCommit.push(request);
      return;
    }
    if (!this.readOnly.add(request, this.log.commit, this.id)) return;
    const alone = isQuorum(this.membership, (id) => id === this.id);
    if (alone) this.readStates.push(...this.readOnly.release((acks) => quorumOf(this, acks)));
    // One round in flight at a time: reads arriving meanwhile wait for it and share the next
    // (sent when it is confirmed, or by the next heartbeat tick should its messages be lost).
    else if (!this.readOnly.inFlight()) broadcastHeartbeat(this);
  }

  /** The host persisted entries through (i, t). The leader counts itself toward a quorum only now. */
  persisted(i: Index, t: Term): void {
    this.log.stableTo(i, t);
    if (this.role !== Role.Leader) return;
    const self = this.progress.get(this.id)!;
    if (self.maybeUpdate(this.log.persistedIndex()) && maybeCommit(this)) broadcastAppend(this, true);
  }

  /**
   * The host tells the leader how streaming a snapshot to `to` ended (its transport knows; the
   * core does not). Either way the leader probes next; after a failure the probe finds the
   * follower still behind and sends a snapshot again.
   */
  reportSnapshot(to: NodeId, ok: boolean): void {
    const pr = this.progress.get(to);
    if (this.role !== Role.Leader || pr === undefined || pr.state !== ProgressState.Snapshot) return;
    pr.becomeProbe();
    // After a success, wait for the follower's own reply to learn its match index.
    if (ok) pr.probeSent = true;
  }

  /** Handles a message from a peer. */
  step(m: Message): void {
    assert(m.to === this.id, `step: message to ${m.to} delivered to ${this.id}`);
    if (m.term > this.term) {
      if (!this.stepHigherTerm(m)) return;
    } else if (m.term < this.term) {
      this.stepLowerTerm(m);
      return;
    }
    if (m.type === 'vote' || m.type === 'pre-vote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case Role.Leader:
        stepLeader(this, m);
        break;
      case Role.Candidate:
      case Role.PreCandidate:
        this.stepCandidate(m);
        break;
      case Role.Follower:
        stepFollower(this, m);
        break;
      default:
        assertNever(this.role);
    }
  }

  // ---- terms (§5.1) -------------------------------------------------------------------------

  /** A message from a higher term. Returns false when it is to be ignored. */
  private stepHigherTerm(m: Message): boolean {
    if (m.type === 'vote' && !m.transfer && this.inLease()) {
      // §4.2.3: while it hears from a live leader, a server ignores vote requests, so a server
      // that was cut off cannot depose a healthy leader.
      return false;
    }
    // A PreVote request carries the term its sender would campaign in, and a granted PreVote
    // reply echoes it: neither means anyone has reached that term (§9.6).
    if (m.type === 'pre-vote' || (m.type === 'pre-vote-resp' && !m.reject)) return true;
    const lead = m.type === 'app' || m.type === 'heartbeat' || m.type === 'snapshot' ? m.from : NONE;
    this.becomeFollower(m.term, lead);
    return true;
  }

  /** §5.1: a request from an older term is answered with ours so its sender steps down. */
  private stepLowerTerm(m: Message): void {
    switch (m.type) {
      case 'app':
      case 'snapshot':
        this.send({
          type: 'app-resp',
          to: m.from,
          term: this.term,
          index: m.type === 'app' ? m.prevIndex : m.snapshot.index,
          reject: true,
          hintIndex: index(0),
          hintTerm: term(0),
        });
        break;
      case 'heartbeat':
        this.send({ type: 'heartbeat-resp', to: m.from, term: this.term, context: m.context });
        break;
      case 'vote':
      case 'pre-vote':
        this.send({
          type: m.type === 'vote' ? 'vote-resp' : 'pre-vote-resp',
          to: m.from,
          term: this.term,
          reject: true,
        });
        break;
      default:
        break; // A stale reply carries nothing we need.
    }
  }

  /** Heard from a leader within the (base) election timeout. */
  private inLease(): boolean {
    return this.config.checkQuorum && this.heardFromLeader();
  }

  /**
   * A leader (or, with leases on, our own start) within the last election timeout: a vote now
   * could elect a second leader while the first one's lease still runs.
   */
  private heardFromLeader(): boolean {
    if (this.electionElapsed >= this.config.electionTicks) {
      this.quietAfterStart = false;
      return false;
    }
    return this.lead !== NONE || this.quietAfterStart;
  }

  // ---- voting (§5.2, §5.4.1, §9.6) ----------------------------------------------------------

  /**
   * A voter campaigns; so does a node that a not yet committed configuration removes (thesis
   * §4.2.2): until C(new) commits it may be the one that must get it committed — as leader it
   * counts only C(new)'s votes and acks, and steps down once C(new) commits. @internal
   */
  mayCampaign(): boolean {
    if (isVoter(this.membership, this.id)) return true;
    const latest = this.log.configs.latestIndex();
    return latest > this.log.commit && isVoter(this.log.configs.at(index(latest - 1)), this.id);
  }

  private handleVoteRequest(m: VoteMessage): void {
    const upToDate = this.log.isUpToDate(m.lastIndex, m.lastTerm);
    let grant: boolean;
    if (m.type === 'vote') {
      // At most one vote per term; none once we follow a leader of this term.
      const free = this.vote === m.from || (this.vote === NONE && this.lead === NONE);
      grant = free && upToDate;
    } else {
      // §9.6: grant a PreVote only if no leader has been heard from within the election timeout.
      grant = m.term > this.term && !this.heardFromLeader() && upToDate;
    }
    const type = m.type === 'vote' ? 'vote-resp' : 'pre-vote-resp';
    if (!grant) {
      this.send({ type, to: m.from, term: this.term, reject: true });
      return;
    }
    if (m.type === 'vote') {
      this.vote = m.from;
      this.electionElapsed = 0;
    }
    // The reply goes out after the vote is persisted: RawNode holds it back until then.
    this.send({ type, to: m.from, term: m.term, reject: false });
  }

  // ---- elections (§5.2) ---------------------------------------------------------------------

  private tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.config.electionTicks) this.quietAfterStart = false;
    if (this.electionElapsed >= this.randomizedElectionTimeout && this.mayCampaign()) {
      this.electionElapsed = 0;
      this.startElection(this.config.preVote);
    }
  }

  /** Campaigns, with a PreVote round first if `pre`; `transfer_`: at the leader's request (§3.10). @internal */
  startElection(pre: boolean, transfer_ = false): void {
    if (pre) this.becomePreCandidate();
    else this.becomeCandidate();
    // A candidate votes for itself: in a 3-node cluster split 1 | 2, the pair can only reach a
    // majority of 2 with the candidate's own vote.
    this.votes.set(this.id, true);
    if (this.tallyAndAct()) return;
    const voteTerm = pre ? term(this.term + 1) : this.term;
    const type = pre ? 'pre-vote' : 'vote';
    const transfer = transfer_ && !pre;
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const peer of members(this.membership)) {
      if (!isVoter(this.membership, peer)) continue;
      if (peer !== this.id) this.send({ type, to: peer, term: voteTerm, lastIndex, lastTerm, transfer });
    }
  }

  /** Acts on the tally; returns true when the election is decided. */
  private tallyAndAct(): boolean {
    const result = voteResult(this.membership, this.votes);
    if (result === VoteResult.Won) {
      if (this.role === Role.PreCandidate) this.startElection(false);
      else this.becomeLeader();
      return true;
    }
    if (result === VoteResult.Lost) {
      this.becomeFollower(this.term, NONE);
      return true;
    }
    return false;
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'app':
      case 'heartbeat':
      case 'snapshot':
        // A leader exists in our term (§5.2): it won; follow it.
        this.becomeFollower(this.term, m.from);
        stepFollower(this, m);
        break;
      case 'vote-resp':
      case 'pre-vote-resp':
        this.handleVoteResponse(m);
        break;
      case 'app-resp':
      case 'heartbeat-resp':
      case 'vote':
      case 'pre-vote':
      case 'timeout-now':
        break;
      default:
        assertNever(m);
    }
  }

  private handleVoteResponse(m: VoteResponseMessage): void {
    const expected = this.role === Role.PreCandidate ? 'pre-vote-resp' : 'vote-resp';
    if (m.type !== expected || !isVoter(this.membership, m.from)) return;
    if (!this.votes.has(m.from)) this.votes.set(m.from, !m.reject);
    this.tallyAndAct();
  }

  // ---- roles --------------------------------------------------------------------------------

  private reset(t: Term): void {
    this.readsDropped.push(...this.readOnly.reset(), ...this.readsBeforeCommit);
    this.readsBeforeCommit = [];
    this.heartbeatRound = 0;
    this.leaseRound = 0;
    this.leaseRevoked = false;
    this.leadTransferee = NONE;
    this.stepDownAfterTransfer = false;
    if (t !== this.term) {
      this.term = t;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    // §5.2: randomized timeouts in [electionTicks, 2·electionTicks) make split votes rare.
    this.randomizedElectionTimeout =
      this.config.electionTicks + this.config.rng.nextInt(this.config.electionTicks);
    this.votes.clear();
    this.progress.clear();
  }

  becomeFollower(t: Term, lead: NodeId, reason = 'saw a higher term'): void {
    const wasLeader = this.role === Role.Leader;
    this.reset(t);
    this.lead = lead;
    this.setRole(Role.Follower);
    if (wasLeader) this.config.trace?.({ type: 'step-down', node: this.id, term: this.term, reason });
  }

  private becomePreCandidate(): void {
    assert(this.role !== Role.Leader, 'raft: leader cannot become pre-candidate');
    // §9.6: a pre-candidate keeps its term and vote; only a won PreVote raises the term.
    const { term: t, vote } = this;
    this.reset(t);
    this.vote = vote;
    this.setRole(Role.PreCandidate);
  }

  private becomeCandidate(): void {
    assert(this.role !== Role.Leader, 'raft: leader cannot become candidate');
    this.reset(term(this.term + 1));
    this.vote = this.id;
    this.setRole(Role.Candidate);
  }

  private becomeLeader(): void {
    assert(this.role === Role.Candidate, `raft: only a candidate becomes leader, not a ${this.role}`);
    const votes = [...this.votes];
    this.reset(this.term);
    for (const [id, v] of votes) this.votes.set(id, v);
    this.lead = this.id;
    const next = index(this.log.lastIndex() + 1);
    for (const peer of members(this.membership))
      this.progress.set(peer, new Progress(next, this.config.inflightMax));
    if (!this.progress.has(this.id)) this.progress.set(this.id, new Progress(next, this.config.inflightMax));
    this.progress.get(this.id)!.maybeUpdate(this.log.persistedIndex());
    this.setRole(Role.Leader);
    // §5.4.2: a new leader commits entries of older terms only through an entry of its own term.
    this.log.append([{ term: this.term, index: next, kind: EntryKind.Empty, data: EMPTY_DATA }]);
    broadcastAppend(this, true);
  }

  private setRole(role: Role): void {
    this.role = role;
    this.config.trace?.({ type: 'role', node: this.id, role, term: this.term });
  }

  /** Queues `m` from this node. @internal */
  send(m: DistributiveOmit<Message, 'from'>): void {
    (m as unknown as { from: NodeId }).from = this.id;
    this.msgs.push(m as Message);
  }
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
