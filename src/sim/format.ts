import { assertNever } from '../raft/assert.js';
import type { Message } from '../raft/messages.js';

/** A one-line, human-readable rendering of a message for traces and timelines. */
export function describeMessage(m: Message): string {
  const head = `${m.from}→${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'app':
      return `${head} prev=${m.prevIndex}/t${m.prevTerm} entries=${m.entries.length} commit=${m.commit}`;
    case 'app-resp':
      return m.reject
        ? `${head} REJECT at ${m.index} hint=${m.hintIndex}/t${m.hintTerm}`
        : `${head} ok through ${m.index}`;
    case 'heartbeat':
      return `${head} commit=${m.commit}`;
    case 'heartbeat-resp':
      return head;
    case 'snapshot':
      return `${head} snapshot through ${m.snapshot.index}/t${m.snapshot.term}`;
    case 'timeout-now':
      return `${head} (leadership transfer: campaign now)`;
    case 'vote':
    case 'pre-vote':
      return `${head} last=${m.lastIndex}/t${m.lastTerm}`;
    case 'vote-resp':
    case 'pre-vote-resp':
      return `${head} ${m.reject ? 'rejected' : 'granted'}`;
    default:
      return assertNever(m);
  }
}

/** A log drawn as its terms, one cell per entry: `[1 1 2 2 | 3]` with `|` after the commit index. */
export function drawLog(terms: readonly number[], commit: number): string {
  const cells = terms.map((t, k) => (k + 1 === commit && k + 1 < terms.length ? `${t} |` : `${t}`));
  return `[${cells.join(' ')}]`;
}

/** Virtual time for people: whole milliseconds as they are, others (drifting clocks) to 0.1 ms. */
export function formatMs(t: number): string {
  return Number.isInteger(t) ? String(t) : t.toFixed(1);
}
