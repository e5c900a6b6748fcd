import { assert, assertNever } from './assert.js';
import { type RaftConfig, type ResolvedConfig, resolveConfig } from './config.js';
import {
  ConfChangeError,
  EmptyProposalError,
  NotLeaderError,
  TransferInProgressError,
  UnknownMemberError,
} from './errors.js';
import {
  addressesOf,
  type ConfChangeTarget,
  committedIndexOf,
  encodeMembership,
  isJoint,
  isQuorum,
  isVoter,
  type Membership,
  members,
  quorumRound,
  simpleMembership,
  voteResult,
} from './membership.js';
import {
  type AppendMessage,
  type AppendResponseMessage,
  appendWellFormed,
  type HeartbeatMessage,
  type Message,
  type SnapshotMessage,
  type VoteMessage,
  type VoteResponseMessage,
} from './messages.js';
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
  /** Ticks since the transfer started; it is abandoned after an election timeout. */
  private transferElapsed = 0;
  /** Reads that wait for this leader's first commit in its term (thesis §6.4). */
  private readsBeforeCommit: number[] = [];
  /** Heartbeat rounds broadcast by this leader in its term; each carries its number as context. */
  private heartbeatRound = 0;
  /**
   * The newest heartbeat round a majority (this leader included) answered in this term. The host
   * knows when it sent that round: a leader lease runs from then (thesis §6.4.1).
   */
  leaseRound = 0;
  /** A leadership transfer began in this term: no lease until the next term. */
  private leaseRevoked = false;
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
    if (this.role === Role.Leader) this.tickHeartbeat();
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
    return this.appendConfig(
      addresses === undefined ? next : { ...next, addresses: addressesOf(next, addresses)! },
    );
  }

  private appendConfig(next: Membership): Index {
    const at = index(this.log.lastIndex() + 1);
    this.log.append([{ term: this.term, index: at, kind: EntryKind.Config, data: encodeMembership(next) }]);
    this.syncProgress();
    this.broadcastAppend(false);
    return at;
  }

  /**
   * §3.10: tell `to` to campaign now. Its votes pass the stickiness that protects this leader's
   * lease, so this leader gives up its lease for the rest of the term.
   */
  private sendTimeoutNow(to: NodeId): void {
    this.leaseRevoked = true;
    this.leaseRound = 0;
    this.send({ type: 'timeout-now', to, term: this.term });
  }

  /** The leader tracks every member of the configuration in force (and itself), no one else. */
  private syncProgress(): void {
    const wanted = new Set(members(this.membership));
    wanted.add(this.id);
    for (const id of this.progress.keys()) if (!wanted.has(id)) this.progress.delete(id);
    const next = index(this.log.lastIndex() + 1);
    for (const id of wanted) {
      if (!this.progress.has(id)) this.progress.set(id, new Progress(next, this.config.inflightMax));
    }
  }

  /**
   * After a commit: a committed joint configuration is followed by C(new) (§4.3); a leader that is
   * not a voter of the committed C(new) steps down — it led until then (§4.2.2) — and tells an
   * up-to-date voter to campaign at once.
   */
  private afterConfigCommit(): void {
    const m = this.membership;
    if (this.log.configs.latestIndex() > this.log.commit || this.role !== Role.Leader) return;
    if (isJoint(m)) {
      const next: Membership = { voters: m.voters, outgoing: [], learners: m.learners };
      this.appendConfig(
        m.addresses === undefined ? next : { ...next, addresses: addressesOf(next, m.addresses)! },
      );
    } else if (!isVoter(m, this.id)) {
      // Hand over at once (§3.10) rather than leave the cluster leaderless for an election
      // timeout: a voter whose log matches ours wins any election it starts now.
      const heir = m.voters.find((id) => this.progress.get(id)?.match === this.log.lastIndex());
      if (heir !== undefined) this.sendTimeoutNow(heir);
      this.becomeFollower(this.term, NONE, 'removed from the configuration, which has committed');
    }
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
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to, pr, false);
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
    this.broadcastAppend(false);
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
    if (alone) this.readStates.push(...this.readOnly.release((acks) => this.quorumOf(acks)));
    // One round in flight at a time: reads arriving meanwhile wait for it and share the next
    // (sent when it is confirmed, or by the next heartbeat tick should its messages be lost).
    else if (!this.readOnly.inFlight()) this.broadcastHeartbeat();
  }

  /** The host persisted entries through (i, t). The leader counts itself toward a quorum only now. */
  persisted(i: Index, t: Term): void {
    this.log.stableTo(i, t);
    if (this.role !== Role.Leader) return;
    const self = this.progress.get(this.id)!;
    if (self.maybeUpdate(this.log.persistedIndex()) && this.maybeCommit()) this.broadcastAppend(true);
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
        this.stepLeader(m);
        break;
      case Role.Candidate:
      case Role.PreCandidate:
        this.stepCandidate(m);
        break;
      case Role.Follower:
        this.stepFollower(m);
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
   * counts only C(new)'s votes and acks, and steps down once C(new) commits.
   */
  private mayCampaign(): boolean {
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

  private startElection(pre: boolean, transfer_ = false): void {
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
        this.stepFollower(m);
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
    this.broadcastAppend(true);
  }

  private setRole(role: Role): void {
    this.role = role;
    this.config.trace?.({ type: 'role', node: this.id, role, term: this.term });
  }

  // ---- the leader (§5.3, §5.4) --------------------------------------------------------------

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.leadTransferee !== NONE && ++this.transferElapsed >= this.config.electionTicks) {
      // The transfer did not complete within an election timeout: lead on.
      this.leadTransferee = NONE;
    }
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(
          this.term,
          NONE,
          'CheckQuorum: no majority heard from within an election timeout',
        );
        return;
      }
    }
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      // Also re-confirms the newest pending read round, should its first heartbeats be lost.
      this.broadcastHeartbeat();
    }
  }

  /** §6.2 CheckQuorum: did a majority (self included) reply since the last check? Resets the marks. */
  private quorumActive(): boolean {
    const active = new Set<NodeId>([this.id]);
    for (const [id, pr] of this.progress) {
      if (pr.recentActive) active.add(id);
      pr.activeAtLastCheck = pr.recentActive;
      pr.recentActive = false;
    }
    return this.quorumOf(active);
  }

  /** Do these nodes form a quorum of the current configuration? */
  private quorumOf(nodes: ReadonlySet<NodeId>): boolean {
    return isQuorum(this.membership, (id) => nodes.has(id));
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'app-resp':
        this.handleAppendResponse(m);
        break;
      case 'heartbeat-resp':
        this.handleHeartbeatResponse(m.from);
        if (m.context > 0) this.handleRoundAck(m.from, m.context);
        break;
      case 'app':
      case 'heartbeat':
      case 'snapshot':
      case 'timeout-now':
        assert(false, `raft: two leaders in term ${this.term}: ${this.id} and ${m.from}`);
        break;
      case 'vote':
      case 'pre-vote':
      case 'vote-resp':
      case 'pre-vote-resp':
        break;
      default:
        assertNever(m);
    }
  }

  private handleAppendResponse(m: AppendResponseMessage): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    if (m.reject) {
      if (pr.maybeDecrease(m.index, this.log.nextProbeFromHint(m.index, m.hintIndex, m.hintTerm)))
        this.sendAppend(m.from, pr, true);
      return;
    }
    // An ack that tells nothing new still answers a probe: the follower matches at `match`.
    const answersProbe = pr.state === ProgressState.Probe && m.index === pr.match;
    if (!pr.maybeUpdate(m.index) && !answersProbe) return;
    switch (pr.state) {
      case ProgressState.Probe:
        pr.becomeReplicate();
        break;
      case ProgressState.Replicate:
        pr.inflights.freeTo(m.index);
        break;
      case ProgressState.Snapshot:
        // Installed (or the follower caught up some other way): continue with entries.
        if (pr.match + 1 >= this.log.firstIndex()) pr.becomeProbe();
        break;
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
    if (this.maybeCommit()) {
      this.broadcastAppend(true);
      return;
    }
    let sent = false;
    while (this.sendAppend(m.from, pr, false)) sent = true;
    // A follower that acked late missed the broadcast of the commit index: tell it now rather
    // than at the next heartbeat.
    if (!sent && pr.sentCommit < this.log.commit) this.sendAppend(m.from, pr, true);
  }

  private handleHeartbeatResponse(from: NodeId): void {
    const pr = this.progress.get(from);
    if (pr === undefined) return;
    pr.recentActive = true;
    pr.probeSent = false;
    if (pr.state === ProgressState.Snapshot) {
      // A snapshot not reported installed within an election timeout was lost: offer it again.
      if (++pr.snapshotHeartbeats * this.config.heartbeatTicks < this.config.electionTicks) return;
      pr.becomeProbe();
    }
    if (pr.state === ProgressState.Replicate && pr.inflightAtHeartbeat && pr.match === pr.matchAtHeartbeat) {
      // Entries that were in flight a whole heartbeat round ago are still not acked: they were
      // lost. Probe again from match.
      pr.becomeProbe();
    }
    pr.matchAtHeartbeat = pr.match;
    pr.inflightAtHeartbeat = pr.inflights.count > 0;
    if (pr.match < this.log.lastIndex()) this.sendAppend(from, pr, false);
  }

  /** §5.4.2 (Figure 8): commit by counting replicas only an entry of the current term. */
  private maybeCommit(): boolean {
    const mci = committedIndexOf(this.membership, (id) => this.progress.get(id)?.match ?? index(0));
    if (mci <= this.log.commit || this.log.term(mci) !== this.term) return false;
    this.log.commitTo(mci);
    this.config.trace?.({ type: 'commit', node: this.id, commit: mci });
    if (this.readsBeforeCommit.length > 0) {
      const waiting = this.readsBeforeCommit;
      this.readsBeforeCommit = [];
      for (const r of waiting) this.readIndex(r);
    }
    this.afterConfigCommit();
    return true;
  }

  private broadcastAppend(sendIfEmpty: boolean): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      if (this.sendAppend(id, pr, sendIfEmpty)) while (this.sendAppend(id, pr, false));
    }
  }

  /** Sends the next AppendEntries to `to` unless paused. Returns whether a message was sent. */
  private sendAppend(to: NodeId, pr: Progress, sendIfEmpty: boolean): boolean {
    if (pr.isPaused()) return false;
    if (pr.next < this.log.firstIndex()) return this.sendSnapshot(to, pr);
    const last = this.log.lastIndex();
    const entries =
      pr.next <= last ? this.log.slice(pr.next, index(last + 1), this.config.entryBytesMax) : [];
    // A probe goes out even when it carries nothing: it asks whether the follower matches at next − 1.
    if (entries.length === 0 && !sendIfEmpty && pr.state !== ProgressState.Probe) return false;
    const prevIndex = index(pr.next - 1);
    const msg: AppendMessage = {
      type: 'app',
      from: this.id,
      to,
      term: this.term,
      prevIndex,
      prevTerm: this.log.term(prevIndex),
      entries,
      commit: this.log.commit,
    };
    this.msgs.push(msg);
    pr.sentEntries(index(prevIndex + entries.length), entries.length);
    pr.sentCommit = this.log.commit;
    return true;
  }

  /** §7: the entries the follower needs were compacted; send the snapshot that replaced them. */
  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    const snapshot = this.log.storage.snapshot();
    assert(snapshot !== undefined, `raft: log compacted to ${this.log.firstIndex()} without a snapshot`);
    this.send({ type: 'snapshot', to, term: this.term, snapshot });
    pr.becomeSnapshot(snapshot.index);
    return true;
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

  /** `from` answered heartbeat round `round`: confirm reads and maybe extend the lease. */
  private handleRoundAck(from: NodeId, round: number): void {
    const released = this.readOnly.ack(from, round, (acks) => this.quorumOf(acks));
    if (released.length > 0) {
      this.readStates.push(...released);
      if (!this.readOnly.inFlight() && this.readOnly.unsent()) this.broadcastHeartbeat();
    }
    const pr = this.progress.get(from);
    if (pr === undefined || round <= pr.ackedRound) return;
    pr.ackedRound = round;
    const roundOf = (id: NodeId) =>
      id === this.id ? this.heartbeatRound : (this.progress.get(id)?.ackedRound ?? 0);
    const confirmed = quorumRound(this.membership, roundOf);
    if (!this.leaseRevoked && confirmed > this.leaseRound) this.leaseRound = confirmed;
  }

  /** Every heartbeat broadcast is a new round; pending ReadIndex rounds ride on it. */
  private broadcastHeartbeat(): void {
    const context = ++this.heartbeatRound;
    this.readOnly.attach(context);
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      // Only a commit index the follower is known to hold: its log may not match ours beyond.
      const commit = index(Math.min(pr.match, this.log.commit));
      this.send({ type: 'heartbeat', to: id, term: this.term, commit, context });
    }
  }

  // ---- the follower (§5.3) ------------------------------------------------------------------

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'app':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        break;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        break;
      case 'snapshot':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        break;
      case 'timeout-now':
        // §3.10: the leader hands over; campaign now, skipping PreVote (the leader vouches for us).
        if (this.mayCampaign()) this.startElection(false, true);
        break;
      case 'app-resp':
      case 'heartbeat-resp':
      case 'vote':
      case 'pre-vote':
      case 'vote-resp':
      case 'pre-vote-resp':
        break;
      default:
        assertNever(m);
    }
  }

  private handleAppend(m: AppendMessage): void {
    if (!appendWellFormed(m)) return; // A broken sender; the leader retransmits, and a codec rejects these first.
    const log = this.log;
    const reply = {
      type: 'app-resp',
      to: m.from,
      term: this.term,
      hintIndex: index(0),
      hintTerm: term(0),
    } as const;
    if (m.prevIndex < log.commit) {
      // Everything up to our commit index already matches the leader (Leader Completeness).
      this.send({ ...reply, index: log.commit, reject: false });
      return;
    }
    if (log.matchTerm(m.prevIndex, m.prevTerm)) {
      const truncatedFrom = this.config.trace === undefined ? 0 : this.log.firstConflict(m.entries);
      const terms = truncatedFrom > 0 ? this.log.termsFrom(truncatedFrom) : [];
      const lastNew = log.appendAfter(m.prevIndex, m.entries);
      if (truncatedFrom > 0)
        this.config.trace?.({ type: 'truncate', node: this.id, from: truncatedFrom, terms });
      // Figure 2: commitIndex = min(leaderCommit, index of last new entry).
      log.commitTo(index(Math.min(m.commit, lastNew)));
      this.send({ ...reply, index: lastNew, reject: false });
      return;
    }
    // §5.3 conflict hint: our term at prevIndex and where that term starts in our log.
    const last = log.lastIndex();
    if (m.prevIndex > last) {
      this.send({ ...reply, index: m.prevIndex, reject: true, hintIndex: index(last + 1) });
    } else {
      const hintTerm = log.term(m.prevIndex);
      const hintIndex = log.firstIndexOfTermAt(m.prevIndex);
      this.send({ ...reply, index: m.prevIndex, reject: true, hintIndex, hintTerm });
    }
  }

  /** §7 InstallSnapshot on a follower. */
  private handleSnapshot(m: SnapshotMessage): void {
    const snap = m.snapshot;
    const log = this.log;
    if (snap.index > log.commit) {
      if (log.matchTerm(snap.index, snap.term)) {
        // We hold the snapshot's last entry, so everything before it matches: just commit.
        log.commitTo(snap.index);
      } else {
        log.restore(snap);
        this.config.trace?.({ type: 'restore', node: this.id, index: snap.index, term: snap.term });
      }
    }
    // Acknowledged only after the host has installed the snapshot (messagesAfterPersist).
    const reply = { type: 'app-resp', to: m.from, term: this.term, reject: false } as const;
    this.send({ ...reply, index: log.commit, hintIndex: index(0), hintTerm: term(0) });
  }

  private handleHeartbeat(m: HeartbeatMessage): void {
    this.log.commitTo(index(Math.min(m.commit, this.log.lastIndex())));
    this.send({ type: 'heartbeat-resp', to: m.from, term: this.term, context: m.context });
  }

  private send(m: DistributiveOmit<Message, 'from'>): void {
    (m as unknown as { from: NodeId }).from = this.id;
    this.msgs.push(m as Message);
  }
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
