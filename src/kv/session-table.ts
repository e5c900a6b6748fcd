import { assert } from '../raft/assert.js';
import { ConfigError } from '../raft/errors.js';
import { type KvResult, SESSIONS_MAX_CEILING, SESSIONS_MAX_DEFAULT } from './types.js';

/**
 * The client sessions that make commands exactly-once (thesis §6.3): per client id, the last seq
 * applied and its result. Bounded and deterministic — its contents depend only on the commands
 * applied and their log indexes, never on a clock, so every member forgets the same sessions at
 * the same index:
 *
 * - LRU: when a new client id arrives and the table holds `sessionsMax` sessions, the session
 *   whose last use has the lowest log index is evicted.
 * - TTL (optional): a session unused for more than `sessionTtlEntries` log entries is dropped
 *   when a command at a later index is applied.
 *
 * A retry that arrives after its session was dropped is applied again (docs/kv.md gives the bound).
 * The window is counted in client ids, not time: a session survives while fewer than
 * `sessionsMax` other client ids are used after it — with one-shot idempotency keys, the last
 * `sessionsMax` keys.
 */

/** How many sessions to keep and for how long. Every member of a cluster must use the same values. */
export interface SessionLimits {
  readonly sessionsMax: number;
  /** Drop a session unused for more than this many log entries; undefined keeps it until evicted. */
  readonly sessionTtlEntries: number | undefined;
}

/** One client's session. Immutable: a use replaces the record. */
export interface SessionRecord {
  readonly clientId: string;
  /** The last seq applied for this client. */
  readonly seq: number;
  /** The log index of the latest command of this session (applied, or answered from here). */
  readonly lastIndex: number;
  /** What applying `seq` returned; a retry of `seq` gets it again. */
  readonly result: KvResult;
}

/** Checks session options; fills in defaults. */
export function toSessionLimits(options: {
  readonly sessionsMax?: number | undefined;
  readonly sessionTtlEntries?: number | undefined;
}): SessionLimits {
  const sessionsMax = options.sessionsMax ?? SESSIONS_MAX_DEFAULT;
  if (!Number.isSafeInteger(sessionsMax) || sessionsMax < 1 || sessionsMax > SESSIONS_MAX_CEILING) {
    throw new ConfigError(
      `sessionsMax must be an integer from 1 to ${SESSIONS_MAX_CEILING}, not ${sessionsMax}`,
    );
  }
  const ttl = options.sessionTtlEntries;
  if (ttl !== undefined && (!Number.isSafeInteger(ttl) || ttl < 1)) {
    throw new ConfigError(`sessionTtlEntries must be a positive integer or absent, not ${ttl}`);
  }
  return { sessionsMax, sessionTtlEntries: ttl };
}

export class SessionTable {
  /** In order of lastIndex, least recently used first (a Map iterates in insertion order). */
  private readonly records = new Map<string, SessionRecord>();
  private newest = 0;
  /** Sessions dropped by LRU eviction since this table was made (a local metric). */
  evictedTotal = 0;
  /** Sessions dropped by TTL since this table was made (a local metric). */
  expiredTotal = 0;

  constructor(readonly limits: SessionLimits) {}

  get size(): number {
    return this.records.size;
  }

  /** The highest log index of any use so far (0 before the first). */
  get newestIndex(): number {
    return this.newest;
  }

  get(clientId: string): SessionRecord | undefined {
    return this.records.get(clientId);
  }

  /** Records that `seq` of `clientId` was applied at `index` with `result`; evicts LRU when full. */
  record(clientId: string, seq: number, result: KvResult, index: number): void {
    this.use(index);
    const known = this.records.delete(clientId);
    if (!known) {
      while (this.records.size >= this.limits.sessionsMax) {
        const oldest = this.records.keys().next();
        assert(oldest.done !== true, 'session table: full table has an oldest session');
        this.records.delete(oldest.value);
        this.evictedTotal++;
      }
    }
    this.records.set(clientId, { clientId, seq, lastIndex: index, result });
  }

  /** Marks `session` as used at `index` (a retry was answered from it). */
  touch(session: SessionRecord, index: number): void {
    this.use(index);
    this.records.delete(session.clientId);
    this.records.set(session.clientId, { ...session, lastIndex: index });
  }

  /** Drops the sessions whose TTL ran out by `index`. */
  expire(index: number): void {
    const ttl = this.limits.sessionTtlEntries;
    if (ttl === undefined) return;
    for (const rec of this.records.values()) {
      if (rec.lastIndex + ttl >= index) return;
      this.records.delete(rec.clientId);
      this.expiredTotal++;
    }
  }

  /** The sessions, least recently used first (a copy: later changes do not show in it). */
  list(): SessionRecord[] {
    return Array.from(this.records.values());
  }

  /**
   * Adds a session read from a snapshot. Sessions must come least recently used first; the
   * caller has checked the order and the count.
   */
  load(rec: SessionRecord): void {
    assert(rec.lastIndex >= this.newest, 'session table: loaded in lastIndex order');
    assert(!this.records.has(rec.clientId), 'session table: one session per client id');
    assert(this.records.size < this.limits.sessionsMax, 'session table: size <= sessionsMax');
    this.newest = rec.lastIndex;
    this.records.set(rec.clientId, rec);
  }

  private use(index: number): void {
    assert(index >= this.newest, 'session table: uses come in log order');
    this.newest = index;
  }
}
