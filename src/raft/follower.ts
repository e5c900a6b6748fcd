import { assertNever } from './assert.js';
import {
  type AppendMessage,
  appendWellFormed,
  type HeartbeatMessage,
  type Message,
  type SnapshotMessage,
} from './messages.js';
import type { Raft } from './raft.js';
import { index, term } from './types.js';

// The follower (§5.3, §7): AppendEntries, heartbeats, InstallSnapshot and a leader's TimeoutNow.
// Functions of the Raft instance, as in leader.ts: Raft dispatches to `stepFollower` by role.

/** Handles a message of the current term; any message from the leader restarts the election timer. */
export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case 'app':
      r.electionElapsed = 0;
      r.lead = m.from;
      handleAppend(r, m);
      break;
    case 'heartbeat':
      r.electionElapsed = 0;
      r.lead = m.from;
      handleHeartbeat(r, m);
      break;
    case 'snapshot':
      r.electionElapsed = 0;
      r.lead = m.from;
      handleSnapshot(r, m);
      break;
    case 'timeout-now':
      // §3.10: the leader hands over; campaign now, skipping PreVote (the leader vouches for us).
      if (r.mayCampaign()) r.startElection(false, true);
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

function handleAppend(r: Raft, m: AppendMessage): void {
  if (!appendWellFormed(m)) return; // A broken sender; the leader retransmits, and a codec rejects these first.
  const log = r.log;
  const reply = {
    type: 'app-resp',
    to: m.from,
    term: r.term,
    hintIndex: index(0),
    hintTerm: term(0),
  } as const;
  if (m.prevIndex < log.commit) {
    // Everything up to our commit index already matches the leader (Leader Completeness).
    r.send({ ...reply, index: log.commit, reject: false });
    return;
  }
  if (log.matchTerm(m.prevIndex, m.prevTerm)) {
    const truncatedFrom = r.config.trace === undefined ? 0 : r.log.firstConflict(m.entries);
    const terms = truncatedFrom > 0 ? r.log.termsFrom(truncatedFrom) : [];
    const lastNew = log.appendAfter(m.prevIndex, m.entries);
    if (truncatedFrom > 0) r.config.trace?.({ type: 'truncate', node: r.id, from: truncatedFrom, terms });
    // Figure 2: commitIndex = min(leaderCommit, index of last new entry).
    log.commitTo(index(Math.min(m.commit, lastNew)));
    r.send({ ...reply, index: lastNew, reject: false });
    return;
  }
  // §5.3 conflict hint: our term at prevIndex and where that term starts in our log.
  const last = log.lastIndex();
  if (m.prevIndex > last) {
    r.send({ ...reply, index: m.prevIndex, reject: true, hintIndex: index(last + 1) });
  } else {
    const hintTerm = log.term(m.prevIndex);
    const hintIndex = log.firstIndexOfTermAt(m.prevIndex);
    r.send({ ...reply, index: m.prevIndex, reject: true, hintIndex, hintTerm });
  }
}

/** §7 InstallSnapshot on a follower. */
function handleSnapshot(r: Raft, m: SnapshotMessage): void {
  const snap = m.snapshot;
  const log = r.log;
  if (snap.index > log.commit) {
    if (log.matchTerm(snap.index, snap.term)) {
      // We hold the snapshot's last entry, so everything before it matches: just commit.
      log.commitTo(snap.index);
    } else {
      log.restore(snap);
      r.config.trace?.({ type: 'restore', node: r.id, index: snap.index, term: snap.term });
    }
  }
  // Acknowledged only after the host has installed the snapshot (messagesAfterPersist).
  const reply = { type: 'app-resp', to: m.from, term: r.term, reject: false } as const;
  r.send({ ...reply, index: log.commit, hintIndex: index(0), hintTerm: term(0) });
}

function handleHeartbeat(r: Raft, m: HeartbeatMessage): void {
  r.log.commitTo(index(Math.min(m.commit, r.log.lastIndex())));
  r.send({ type: 'heartbeat-resp', to: m.from, term: r.term, context: m.context });
}
