import { assert } from '../raft/assert.js';
import { type Index, index as toIndex } from '../raft/types.js';
import { copyBytes, latin1 } from './bytes.js';
import { decodeCommand } from './command-codec.js';
import { KvCommandError } from './errors.js';
import { checkKey, checkPrefix, rangeLimit } from './limits.js';
import { type SessionLimits, SessionTable, toSessionLimits } from './session-table.js';
import { readSnapshot } from './snapshot-reader.js';
import { writeSnapshot } from './snapshot-writer.js';
import { SortedIndex } from './sorted-index.js';
import type {
  ConditionFailed,
  DeleteCommand,
  KeyValue,
  KvCommand,
  KvResult,
  PutCommand,
  RangeRequest,
  RangeResult,
} from './types.js';

/** Options of a KvStore. Every member of a cluster must use the same values (docs/kv.md). */
export interface KvStoreOptions {
  /** How many client sessions to remember; SESSIONS_MAX_DEFAULT (250,000) when absent. */
  readonly sessionsMax?: number | undefined;
  /** Forget a session unused for more than this many log entries; absent: only LRU eviction. */
  readonly sessionTtlEntries?: number | undefined;
}

const NO_VALUE = new Uint8Array(0);

/** What a session remembers of a result: a failed condition's key without its value. */
function withoutValue(result: KvResult): KvResult {
  if (result.ok || result.code !== 'ERR_CONDITION_FAILED' || result.current === undefined) return result;
  return { ...result, current: { ...result.current, value: NO_VALUE } };
}

/**
 * The replicated key-value state machine. Mutations arrive as encoded commands through `apply`,
 * in log order; reads (`get`, `range`) look at the local state and are made linearizable by the
 * node layer (ReadIndex or lease), not by the log.
 *
 * Revision rules (etcd's): `revision` rises by one with every put and every delete that removed a
 * key; a key's `version` counts its puts since creation; a delete removes the key, and a later put
 * creates it again with version 1 and a new createRevision. A failed condition changes nothing.
 *
 * It is the node's `StateMachine<KvResult>` by shape: kv does not import node (DESIGN.md's arrows).
 */
export class KvStore {
  private index = new SortedIndex();
  private sessions: SessionTable;
  private rev = 0;
  private applied = 0;
  private restoring = false;

  constructor(options: KvStoreOptions = {}) {
    this.sessions = new SessionTable(toSessionLimits(options));
  }

  /** The store revision: how many writes changed something. */
  get revision(): number {
    return this.rev;
  }

  /** The log index of the last command applied (whatever its outcome), or of the restored snapshot. */
  get appliedIndex(): Index {
    return toIndex(this.applied);
  }

  /** How many keys the store holds. */
  get size(): number {
    return this.index.size;
  }

  /** How many client sessions the store remembers. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Sessions forgotten by LRU eviction since this store was made (a local metric, not replicated). */
  get sessionsEvictedTotal(): number {
    return this.sessions.evictedTotal;
  }

  /** Sessions forgotten by TTL since this store was made (a local metric, not replicated). */
  get sessionsExpiredTotal(): number {
    return this.sessions.expiredTotal;
  }

  /** The session limits in force. */
  get sessionLimits(): SessionLimits {
    return this.sessions.limits;
  }

  /** The key's record, or undefined. Throws KvLimitError ERR_BAD_KEY for an empty or oversized key. */
  get(key: Uint8Array): KeyValue | undefined {
    checkKey(key);
    return this.index.get(latin1(key));
  }

  /** The keys that start with `prefix`, in byte order, at most `limit` of them. */
  range(request: RangeRequest = {}): RangeResult {
    if (request.prefix !== undefined) checkPrefix(request.prefix);
    const prefix = request.prefix === undefined ? '' : latin1(request.prefix);
    const limit = rangeLimit(request.limit);
    let from = prefix;
    let exclusive = false;
    if (request.after !== undefined) {
      checkKey(request.after, 'after');
      const after = latin1(request.after);
      if (after >= prefix) {
        from = after;
        exclusive = true;
      }
    }
    const { items, more } = this.index.scan(prefix, from, exclusive, limit);
    return { items, revision: this.rev, more };
  }

  /**
   * Applies the command at log `index`. Never throws for a bad command: malformed bytes give an
   * ERR_BAD_COMMAND result and change nothing.
   */
  apply(command: Uint8Array, index: Index): KvResult {
    assert(!this.restoring, 'kv store: no apply while a restore is running');
    assert(index > this.applied, 'kv store: apply indexes increase');
    this.applied = index;
    let cmd: KvCommand;
    try {
      cmd = decodeCommand(command);
    } catch (e) {
      if (e instanceof KvCommandError) return { ok: false, code: 'ERR_BAD_COMMAND', message: e.message };
      throw e;
    }
    this.sessions.expire(index);
    const session = cmd.session;
    if (session === undefined) return this.execute(cmd);
    const known = this.sessions.get(session.clientId);
    if (known !== undefined) {
      if (session.seq === known.seq) {
        this.sessions.touch(known, index);
        return this.answerRetry(known.result, cmd.key);
      }
      if (session.seq < known.seq) return { ok: false, code: 'ERR_SESSION_STALE', lastSeq: known.seq };
    }
    const result = this.execute(cmd);
    this.sessions.record(session.clientId, session.seq, withoutValue(result), index);
    return result;
  }

  /**
   * A retried command's answer from its session record. A failed condition's record keeps the
   * key's revisions but not its value (up to 1 MiB for each of 250,000 sessions would be 250 GiB):
   * while the key still has the modRevision it had then, its value is the same and the answer is
   * the first one exactly; after a later write, the answer is still "condition failed" — it was,
   * when the command applied — with the key as it is now. Deterministic: it reads applied state.
   */
  private answerRetry(recorded: KvResult, key: Uint8Array): KvResult {
    if (recorded.ok || recorded.code !== 'ERR_CONDITION_FAILED' || recorded.current === undefined)
      return recorded;
    const present = this.index.get(latin1(key));
    if (present !== undefined && present.modRevision === recorded.current.modRevision) {
      return { ...recorded, current: present };
    }
    return { ok: false, code: 'ERR_CONDITION_FAILED', revision: this.rev, current: present };
  }

  /**
   * The state as of now, as chunks of SNAPSHOT_CHUNK_BYTES. The view is captured before this
   * returns (O(keys / CHUNK_LOAD + sessions)); applies made while the stream is read do not show.
   */
  snapshot(): AsyncIterable<Uint8Array> {
    return writeSnapshot({
      revision: this.rev,
      appliedIndex: this.applied,
      limits: this.sessions.limits,
      index: this.index.freeze(),
      sessions: this.sessions.list(),
    });
  }

  /**
   * Replaces the whole state with a snapshot. On KvSnapshotError (corrupt, truncated, unknown
   * version) or ConfigError (other session limits) the store keeps its state. Do not apply while
   * this runs.
   */
  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    assert(!this.restoring, 'kv store: one restore at a time');
    this.restoring = true;
    try {
      const state = await readSnapshot(chunks, this.sessions.limits);
      state.sessions.evictedTotal = this.sessions.evictedTotal;
      state.sessions.expiredTotal = this.sessions.expiredTotal;
      this.index = state.index;
      this.sessions = state.sessions;
      this.rev = state.revision;
      this.applied = state.appliedIndex;
    } finally {
      this.restoring = false;
    }
  }

  private execute(cmd: KvCommand): KvResult {
    return cmd.op === 'put' ? this.put(cmd) : this.delete(cmd);
  }

  private put(cmd: PutCommand): KvResult {
    const name = latin1(cmd.key);
    const current = this.index.get(name);
    if (cmd.ifAbsent === true && current !== undefined) return this.conditionFailed(current);
    if (cmd.ifModRevision !== undefined && current?.modRevision !== cmd.ifModRevision) {
      return this.conditionFailed(current);
    }
    const revision = ++this.rev;
    const kv: KeyValue = {
      key: current === undefined ? copyBytes(cmd.key) : current.key,
      value: copyBytes(cmd.value),
      createRevision: current === undefined ? revision : current.createRevision,
      modRevision: revision,
      version: current === undefined ? 1 : current.version + 1,
    };
    this.index.set(name, kv);
    return { ok: true, op: 'put', revision, createRevision: kv.createRevision, version: kv.version };
  }

  private delete(cmd: DeleteCommand): KvResult {
    const name = latin1(cmd.key);
    if (cmd.ifModRevision !== undefined) {
      const current = this.index.get(name);
      if (current?.modRevision !== cmd.ifModRevision) return this.conditionFailed(current);
    }
    if (!this.index.delete(name)) return { ok: true, op: 'delete', revision: this.rev, deleted: false };
    return { ok: true, op: 'delete', revision: ++this.rev, deleted: true };
  }

  private conditionFailed(current: KeyValue | undefined): ConditionFailed {
    return { ok: false, code: 'ERR_CONDITION_FAILED', revision: this.rev, current };
  }
}
