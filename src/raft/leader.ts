import { assert, assertNever } from './assert.js';
import {
  addressesOf,
  committedIndexOf,
  encodeMembership,
  isJoint,
  isQuorum,
  isVoter,
  type Membership,
  members,
  quorumRound,
} from './membership.js';
import type { AppendMessage, AppendResponseMessage, Message } from './messages.js';
import { Progress, ProgressState } from './progress.js';
import type { Raft } from './raft.js';
import { EntryKind, type Index, index, NONE, type NodeId, Role } from './types.js';

// The leader (§5.3, §5.4): replication and its flow control, commit, heartbeats, ReadIndex rounds
// and the lease, snapshots to followers, leadership transfer, and what a committed configuration
// asks of the leader. Functions of the Raft instance rather than methods: Raft dispatches to
// `tickLeader` and `stepLeader` by role (STYLE.md §3) and keeps the state they share.

/** A leader's tick: heartbeats, CheckQuorum and the deadline of a leadership transfer. */
export function tickLeader(r: Raft): void {
  r.heartbeatElapsed++;
  r.electionElapsed++;
  if (r.leadTransferee !== NONE && ++r.transferElapsed >= r.config.electionTicks) {
    // The transfer did not complete within an election timeout: lead on — unless this leader was
    // removed, which now steps down and leaves the rest to elect.
    r.leadTransferee = NONE;
    if (r.stepDownAfterTransfer) {
      r.becomeFollower(r.term, NONE, 'removed from the configuration; the hand-over did not complete');
      return;
    }
  }
  if (r.electionElapsed >= r.config.electionTicks) {
    r.electionElapsed = 0;
    if (r.config.checkQuorum && !quorumActive(r)) {
      r.becomeFollower(r.term, NONE, 'CheckQuorum: no majority heard from within an election timeout');
      return;
    }
  }
  if (r.heartbeatElapsed >= r.config.heartbeatTicks) {
    r.heartbeatElapsed = 0;
    // Also re-confirms the newest pending read round, should its first heartbeats be lost.
    broadcastHeartbeat(r);
  }
}

/** §6.2 CheckQuorum: did a majority (self included) reply since the last check? Resets the marks. */
function quorumActive(r: Raft): boolean {
  const active = new Set<NodeId>([r.id]);
  for (const [id, pr] of r.progress) {
    if (pr.recentActive) active.add(id);
    pr.activeAtLastCheck = pr.recentActive;
    pr.recentActive = false;
  }
  return quorumOf(r, active);
}

/** Do these nodes form a quorum of the current configuration? */
export function quorumOf(r: Raft, nodes: ReadonlySet<NodeId>): boolean {
  return isQuorum(r.membership, (id) => nodes.has(id));
}

/** Handles a message of the leader's term (votes have been answered by the caller). */
export function stepLeader(r: Raft, m: Message): void {
  switch (m.type) {
    case 'app-resp':
      handleAppendResponse(r, m);
      break;
    case 'heartbeat-resp':
      handleHeartbeatResponse(r, m.from);
      if (m.context > 0) handleRoundAck(r, m.from, m.context);
      break;
    case 'app':
    case 'heartbeat':
    case 'snapshot':
    case 'timeout-now':
      assert(false, `raft: two leaders in term ${r.term}: ${r.id} and ${m.from}`);
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

function handleAppendResponse(r: Raft, m: AppendResponseMessage): void {
  const pr = r.progress.get(m.from);
  if (pr === undefined) return;
  pr.recentActive = true;
  if (m.reject) {
    if (pr.maybeDecrease(m.index, r.log.nextProbeFromHint(m.index, m.hintIndex, m.hintTerm)))
      sendAppend(r, m.from, pr, true);
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
      if (pr.match + 1 >= r.log.firstIndex()) pr.becomeProbe();
      break;
  }
  if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) {
    sendTimeoutNow(r, m.from);
    if (r.stepDownAfterTransfer) {
      r.becomeFollower(r.term, NONE, 'removed from the configuration; handed over');
      return;
    }
  }
  if (maybeCommit(r)) {
    broadcastAppend(r, true);
    return;
  }
  let sent = false;
  while (sendAppend(r, m.from, pr, false)) sent = true;
  // A follower that acked late missed the broadcast of the commit index: tell it now rather
  // than at the next heartbeat.
  if (!sent && pr.sentCommit < r.log.commit) sendAppend(r, m.from, pr, true);
}

function handleHeartbeatResponse(r: Raft, from: NodeId): void {
  const pr = r.progress.get(from);
  if (pr === undefined) return;
  pr.recentActive = true;
  pr.probeSent = false;
  if (pr.state === ProgressState.Snapshot) {
    // A snapshot not reported installed within an election timeout was lost: offer it again.
    if (++pr.snapshotHeartbeats * r.config.heartbeatTicks < r.config.electionTicks) return;
    pr.becomeProbe();
  }
  if (pr.state === ProgressState.Replicate && pr.inflightAtHeartbeat && pr.match === pr.matchAtHeartbeat) {
    // Entries that were in flight a whole heartbeat round ago are still not acked: they were
    // lost. Probe again from match.
    pr.becomeProbe();
  }
  pr.matchAtHeartbeat = pr.match;
  pr.inflightAtHeartbeat = pr.inflights.count > 0;
  if (pr.match < r.log.lastIndex()) sendAppend(r, from, pr, false);
}

/**
 * §5.4.2 (Figure 8): commit by counting replicas only an entry of the current term. Returns
 * whether the commit index moved; the caller then broadcasts it.
 */
export function maybeCommit(r: Raft): boolean {
  const mci = committedIndexOf(r.membership, (id) => r.progress.get(id)?.match ?? index(0));
  if (mci <= r.log.commit || r.log.term(mci) !== r.term) return false;
  r.log.commitTo(mci);
  r.config.trace?.({ type: 'commit', node: r.id, commit: mci });
  if (r.readsBeforeCommit.length > 0) {
    const waiting = r.readsBeforeCommit;
    r.readsBeforeCommit = [];
    for (const request of waiting) r.readIndex(request);
  }
  afterConfigCommit(r);
  return true;
}

/** Sends every follower what it lacks; with `sendIfEmpty`, at least the commit index. */
export function broadcastAppend(r: Raft, sendIfEmpty: boolean): void {
  for (const [id, pr] of r.progress) {
    if (id === r.id) continue;
    if (sendAppend(r, id, pr, sendIfEmpty)) while (sendAppend(r, id, pr, false));
  }
}

/** Sends the next AppendEntries to `to` unless paused. Returns whether a message was sent. */
export function sendAppend(r: Raft, to: NodeId, pr: Progress, sendIfEmpty: boolean): boolean {
  if (pr.isPaused()) return false;
  if (pr.next < r.log.firstIndex()) return sendSnapshot(r, to, pr);
  const last = r.log.lastIndex();
  const entries = pr.next <= last ? r.log.slice(pr.next, index(last + 1), r.config.entryBytesMax) : [];
  // A probe goes out even when it carries nothing: it asks whether the follower matches at next − 1.
  if (entries.length === 0 && !sendIfEmpty && pr.state !== ProgressState.Probe) return false;
  const prevIndex = index(pr.next - 1);
  const msg: AppendMessage = {
    type: 'app',
    from: r.id,
    to,
    term: r.term,
    prevIndex,
    prevTerm: r.log.term(prevIndex),
    entries,
    commit: r.log.commit,
  };
  r.msgs.push(msg);
  pr.sentEntries(index(prevIndex + entries.length), entries.length);
  pr.sentCommit = r.log.commit;
  return true;
}

/** §7: the entries the follower needs were compacted; send the snapshot that replaced them. */
function sendSnapshot(r: Raft, to: NodeId, pr: Progress): boolean {
  const snapshot = r.log.storage.snapshot();
  assert(snapshot !== undefined, `raft: log compacted to ${r.log.firstIndex()} without a snapshot`);
  r.send({ type: 'snapshot', to, term: r.term, snapshot });
  pr.becomeSnapshot(snapshot.index);
  return true;
}

/** `from` answered heartbeat round `round`: confirm reads and maybe extend the lease. */
function handleRoundAck(r: Raft, from: NodeId, round: number): void {
  const released = r.readOnly.ack(from, round, (acks) => quorumOf(r, acks));
  if (released.length > 0) {
    r.readStates.push(...released);
    if (!r.readOnly.inFlight() && r.readOnly.unsent()) broadcastHeartbeat(r);
  }
  const pr = r.progress.get(from);
  if (pr === undefined || round <= pr.ackedRound) return;
  pr.ackedRound = round;
  const roundOf = (id: NodeId) => (id === r.id ? r.heartbeatRound : (r.progress.get(id)?.ackedRound ?? 0));
  const confirmed = quorumRound(r.membership, roundOf);
  if (!r.leaseRevoked && confirmed > r.leaseRound) r.leaseRound = confirmed;
}

/** Every heartbeat broadcast is a new round; pending ReadIndex rounds ride on it. */
export function broadcastHeartbeat(r: Raft): void {
  const context = ++r.heartbeatRound;
  r.readOnly.attach(context);
  for (const [id, pr] of r.progress) {
    if (id === r.id) continue;
    // Only a commit index the follower is known to hold: its log may not match ours beyond.
    const commit = index(Math.min(pr.match, r.log.commit));
    r.send({ type: 'heartbeat', to: id, term: r.term, commit, context });
  }
}

/**
 * §3.10: tell `to` to campaign now. Its votes pass the stickiness that protects this leader's
 * lease, so this leader gives up its lease for the rest of the term.
 */
export function sendTimeoutNow(r: Raft, to: NodeId): void {
  r.leaseRevoked = true;
  r.leaseRound = 0;
  r.send({ type: 'timeout-now', to, term: r.term });
}

// ---- configuration changes (thesis §4) ------------------------------------------------------

/** Appends configuration `next`, which takes effect at once (§4.1), and replicates it. */
export function appendConfig(r: Raft, next: Membership): Index {
  const at = index(r.log.lastIndex() + 1);
  r.log.append([{ term: r.term, index: at, kind: EntryKind.Config, data: encodeMembership(next) }]);
  syncProgress(r);
  broadcastAppend(r, false);
  return at;
}

/** The leader tracks every member of the configuration in force (and itself), no one else. */
function syncProgress(r: Raft): void {
  const wanted = new Set(members(r.membership));
  wanted.add(r.id);
  // Until the newest configuration commits, the members it drops still get the log: that is how
  // they learn of their removal (once it commits, afterConfigCommit tells them the commit index).
  const latest = r.log.configs.latestIndex();
  if (latest > r.log.commit) for (const id of members(r.log.configs.at(index(latest - 1)))) wanted.add(id);
  for (const id of r.progress.keys()) if (!wanted.has(id)) r.progress.delete(id);
  const next = index(r.log.lastIndex() + 1);
  for (const id of wanted) {
    if (!r.progress.has(id)) r.progress.set(id, new Progress(next, r.config.inflightMax));
  }
}

/**
 * After a commit: a committed joint configuration is followed by C(new) (§4.3); a leader that is
 * not a voter of the committed C(new) steps down — it led until then (§4.2.2) — and tells an
 * up-to-date voter to campaign at once.
 */
function afterConfigCommit(r: Raft): void {
  const m = r.membership;
  if (r.log.configs.latestIndex() > r.log.commit || r.role !== Role.Leader) return;
  // Members the committed configuration dropped hear the commit index once more, then no more.
  const dropped = [...r.progress.keys()].filter((id) => id !== r.id && !members(m).includes(id));
  if (dropped.length > 0) {
    for (const id of dropped) sendAppend(r, id, r.progress.get(id)!, true);
    syncProgress(r);
  }
  if (isJoint(m)) {
    const next: Membership = { voters: m.voters, outgoing: [], learners: m.learners };
    appendConfig(
      r,
      m.addresses === undefined ? next : { ...next, addresses: addressesOf(next, m.addresses)! },
    );
  } else if (!isVoter(m, r.id)) {
    // Hand over (§3.10) rather than leave the cluster leaderless for an election timeout: a voter
    // whose log matches ours wins any election it starts now. If none does yet (under load, the
    // entries after C(new) are still in flight), transfer to the most up-to-date voter — new
    // proposals are refused meanwhile — and step down once TimeoutNow is sent, or at the
    // transfer's deadline.
    const heir = m.voters.find((id) => r.progress.get(id)?.match === r.log.lastIndex());
    if (heir !== undefined) {
      sendTimeoutNow(r, heir);
      r.becomeFollower(r.term, NONE, 'removed from the configuration, which has committed');
      return;
    }
    let best = m.voters[0]!;
    for (const id of m.voters)
      if ((r.progress.get(id)?.match ?? 0) > (r.progress.get(best)?.match ?? 0)) best = id;
    r.leadTransferee = best;
    r.transferElapsed = 0;
    r.stepDownAfterTransfer = true;
    sendAppend(r, best, r.progress.get(best)!, false);
  }
}
