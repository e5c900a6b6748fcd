/**
 * The KV store's data model, commands and results. Keys and values are bytes; a store-wide
 * `revision` counts the writes that changed something (etcd semantics, see docs/kv.md).
 */

/** The longest key, in bytes. Keys are never empty. A protocol constant: every member checks it. */
export const KEY_BYTES_MAX = 4096;
/** The default for `valueBytesMax`, the largest value `encodeCommand` accepts. */
export const VALUE_BYTES_MAX_DEFAULT = 1024 * 1024;
/** No configuration may raise `valueBytesMax` above this (a command must fit in one WAL record). */
export const VALUE_BYTES_CEILING = 16 * 1024 * 1024;
/** The longest session `clientId`, in UTF-8 bytes. */
export const CLIENT_ID_BYTES_MAX = 256;
/**
 * The default for `sessionsMax`, how many client sessions the store remembers: the dedup window of
 * one-shot idempotency keys is the last 250,000 keys — at 7,000 writes/s about 36 s, well beyond
 * the retry horizon of the default client (about 21 s: 5 attempts of up to 5 s). Measured cost of a
 * full table of `idem:<uuid>` sessions: about 250 bytes of heap each (~60 MiB) and 56 bytes each
 * in every snapshot (~14 MB). See docs/kv.md, "Bounds, and when a retry applies twice".
 */
export const SESSIONS_MAX_DEFAULT = 250_000;
/**
 * No configuration may raise `sessionsMax` above this: a JavaScript Map holds at most 2^24
 * entries, and 10 million sessions are already about 2.4 GiB of heap.
 */
export const SESSIONS_MAX_CEILING = 10_000_000;
/** The default `limit` of a range read that names none. */
export const RANGE_LIMIT_DEFAULT = 1000;

/**
 * One key and its value with their history counters. Objects handed out by the store are shared
 * with its state: never mutate them or their byte arrays.
 */
export interface KeyValue {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  /** The revision of the put that created the key (after its latest delete, if any). */
  readonly createRevision: number;
  /** The revision of the latest put to the key. */
  readonly modRevision: number;
  /** How many puts since the key was created; 1 after the creating put. */
  readonly version: number;
}

/**
 * Who sent a command, for exactly-once application: a client numbers its commands with `seq`
 * and keeps at most one in flight. A retry of the same `(clientId, seq)` is answered from the
 * session table instead of being applied again.
 */
export interface KvSession {
  readonly clientId: string;
  readonly seq: number;
}

/**
 * Sets `key` to `value`. Conditions: `ifModRevision` (compare-and-swap: the key exists and its
 * modRevision equals it) or `ifAbsent` (create only), not both.
 */
export interface PutCommand {
  readonly op: 'put';
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly ifModRevision?: number | undefined;
  readonly ifAbsent?: true | undefined;
  readonly session?: KvSession | undefined;
}

/** Removes `key`. With `ifModRevision`, only if the key exists with that modRevision. */
export interface DeleteCommand {
  readonly op: 'delete';
  readonly key: Uint8Array;
  readonly ifModRevision?: number | undefined;
  readonly session?: KvSession | undefined;
}

/** A mutation, as it travels through the log. */
export type KvCommand = PutCommand | DeleteCommand;

/** A put took effect; the key's new modRevision is `revision`. */
export interface PutOk {
  readonly ok: true;
  readonly op: 'put';
  /** The store revision after the put (the key's modRevision). */
  readonly revision: number;
  readonly createRevision: number;
  readonly version: number;
}

/** A delete was applied; `deleted` says whether the key existed. */
export interface DeleteOk {
  readonly ok: true;
  readonly op: 'delete';
  /** The store revision after the delete (unchanged when nothing was deleted). */
  readonly revision: number;
  readonly deleted: boolean;
}

/** The command's condition did not hold; nothing changed. `current` is the key as it is. */
export interface ConditionFailed {
  readonly ok: false;
  readonly code: 'ERR_CONDITION_FAILED';
  /** The store revision when the condition was evaluated. */
  readonly revision: number;
  readonly current: KeyValue | undefined;
}

/** The command's bytes are not a valid command; nothing changed. */
export interface BadCommand {
  readonly ok: false;
  readonly code: 'ERR_BAD_COMMAND';
  readonly message: string;
}

/**
 * The command's `seq` is lower than the last one recorded for its client: it is an old retry
 * whose answer is no longer kept. Nothing changed.
 */
export interface SessionStale {
  readonly ok: false;
  readonly code: 'ERR_SESSION_STALE';
  /** The last seq the store recorded for this client. */
  readonly lastSeq: number;
}

/** What `KvStore.apply` returns for one command. */
export type KvResult = PutOk | DeleteOk | ConditionFailed | BadCommand | SessionStale;

/** A range read: the keys starting with `prefix`, in byte order, at most `limit` of them. */
export interface RangeRequest {
  /** Empty (or absent) for every key. */
  readonly prefix?: Uint8Array | undefined;
  /** A positive integer; RANGE_LIMIT_DEFAULT when absent. */
  readonly limit?: number | undefined;
  /** Start strictly after this key (to continue a range whose `more` was true). */
  readonly after?: Uint8Array | undefined;
}

/** The answer to a range read. */
export interface RangeResult {
  readonly items: KeyValue[];
  /** The store revision the items were read at. */
  readonly revision: number;
  /** True when more keys match beyond `limit`; continue with `after` = the last item's key. */
  readonly more: boolean;
}
