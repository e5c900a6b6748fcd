import { randomUUID } from 'node:crypto';
import { ConfigError, FlotillaError } from '../raft/errors.js';

/** A key as the API returns it. Values are UTF-8 strings (binary values: use base64 yourself). */
export interface KeyValueJson {
  readonly key: string;
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
}

export type ReadConsistency = 'linearizable' | 'lease' | 'stale';

export interface ClientOptions {
  /** Client addresses of the cluster's nodes, e.g. ["http://127.0.0.1:7001", ...]. */
  readonly endpoints: readonly string[];
  /** Per attempt (default 5 s). */
  readonly timeoutMs?: number;
  /** Attempts per call before giving up (default 5); writes keep their idempotency key. */
  readonly attempts?: number;
  /**
   * How often to check, in the background, that the endpoint used as the leader still leads
   * (default 5 s; 0: never). A deposed leader forwards writes, so nothing else would tell.
   */
  readonly leaderCheckMs?: number;
}

/**
 * An error the API answered with (or, with `status` 0, the lack of an answer). `code` is the API's
 * stable code (docs/api.md), `status` the HTTP status, `body` the JSON body.
 */
export class FlotillaApiError extends FlotillaError {
  constructor(
    override readonly code: string,
    readonly status: number,
    message: string,
    readonly body: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'FlotillaApiError';
  }
}

/** A conditional write's condition did not hold; nothing was written. `current` is the key now. */
export class ConditionFailedError extends FlotillaApiError {
  override readonly code = 'ERR_CONDITION_FAILED';
  constructor(status: number, message: string, body: Record<string, unknown>) {
    super('ERR_CONDITION_FAILED', status, message, body);
    this.name = 'ConditionFailedError';
  }

  /** The key as it is (undefined: absent), read when the condition was evaluated. */
  get current(): KeyValueJson | undefined {
    return (this.body.current ?? undefined) as KeyValueJson | undefined;
  }
}

/** No leader was known (on every attempt): the request was never carried out. Retry later. */
export class NoLeaderError extends FlotillaApiError {
  override readonly code = 'ERR_NO_LEADER';
  constructor(status: number, message: string, body: Record<string, unknown>) {
    super('ERR_NO_LEADER', status, message, body);
    this.name = 'NoLeaderError';
  }

  /** The leader's id when the answering node named one (a leader change under way). */
  get leader(): number | undefined {
    return typeof this.body.leader === 'number' ? this.body.leader : undefined;
  }
}

/** The leader's proposal queue was full (on every attempt): never proposed. Back off, then retry. */
export class OverloadedError extends FlotillaApiError {
  override readonly code = 'ERR_OVERLOADED';
  constructor(status: number, message: string, body: Record<string, unknown>) {
    super('ERR_OVERLOADED', status, message, body);
    this.name = 'OverloadedError';
  }
}

/**
 * 504: the server did not see the request through in time. The OUTCOME IS UNKNOWN: a write may
 * still be applied. Retry it with the same `idempotencyKey` to have it applied at most once.
 */
export class TimeoutError extends FlotillaApiError {
  override readonly code = 'ERR_TIMEOUT';
  constructor(status: number, message: string, body: Record<string, unknown>) {
    super('ERR_TIMEOUT', status, message, body);
    this.name = 'TimeoutError';
  }
}

/**
 * No endpoint answered: connections refused or reset, or no answer within `timeoutMs`. Unless
 * every connection was refused, a write's outcome is unknown: retry with the same
 * `idempotencyKey`. `lastError` is the failure (fetch's error; its `cause` has the socket's code).
 */
export class ClusterUnavailableError extends FlotillaApiError {
  override readonly code = 'ERR_UNAVAILABLE';
  constructor(readonly lastError: Error | undefined) {
    super(
      'ERR_UNAVAILABLE',
      0,
      `no endpoint could serve the request${lastError === undefined ? '' : `: ${describeFailure(lastError)}`}`,
      {},
    );
    this.name = 'ClusterUnavailableError';
  }
}

/** The error class for an API answer, by its code. */
function apiError(code: string, status: number, message: string, body: Record<string, unknown>) {
  switch (code) {
    case 'ERR_CONDITION_FAILED':
      return new ConditionFailedError(status, message, body);
    case 'ERR_NO_LEADER':
      return new NoLeaderError(status, message, body);
    case 'ERR_OVERLOADED':
      return new OverloadedError(status, message, body);
    case 'ERR_TIMEOUT':
      return new TimeoutError(status, message, body);
    default:
      return new FlotillaApiError(code, status, message, body);
  }
}

/** An error's message with its cause's code, which fetch hides ("fetch failed": ECONNREFUSED). */
function describeFailure(err: Error): string {
  const cause = (err as { cause?: { code?: unknown } }).cause;
  return typeof cause?.code === 'string' ? `${err.message} (${cause.code})` : err.message;
}

/** 503 codes that mean the request was never carried out: safe to try elsewhere. */
const RETRYABLE = new Set([
  'ERR_NO_LEADER',
  'ERR_OVERLOADED',
  'ERR_PROPOSAL_DROPPED',
  'ERR_READ_UNAVAILABLE',
  'ERR_STOPPED',
  'ERR_TRANSFER_IN_PROGRESS',
]);

/** Codes on which a configuration change is sent again: it was certainly not carried out. */
const CHANGE_RETRYABLE = new Set([...RETRYABLE, 'ERR_CONF_CHANGE_IN_PROGRESS']);

/**
 * After a discovery that found no leader (an election, or a leader outside `endpoints`), calls go
 * round the endpoints for this long before the next one: the probes are not repeated per call.
 */
const DISCOVERY_PAUSE_MS = 100;

/** A connection refused before any answer: the request was not carried out. */
function isNeverSent(err: unknown): boolean {
  const cause = (err as { cause?: { code?: string } }).cause;
  return cause?.code === 'ECONNREFUSED';
}

/** A member as GET /v1/members lists it. */
export interface MemberJson {
  readonly id: number;
  readonly peerAddr: string | null;
  readonly learner: boolean;
  /** On the leader's answer: the highest log index known to be on that member. */
  readonly match?: number;
  /** On the leader's answer: heard from within the last election timeout. */
  readonly active?: boolean;
}

export interface MembersJson {
  readonly members: readonly MemberJson[];
  /** C(old,new) is in force: a change of voters is half done. */
  readonly joint: boolean;
  readonly leader: number | null;
}

/** What GET /v1/status answers (docs/api.md). */
export interface StatusJson {
  readonly id: number;
  readonly role: 'leader' | 'follower' | 'candidate' | 'pre-candidate' | 'learner';
  readonly term: number;
  /** The leader's id as this node knows it, or null. */
  readonly leader: number | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly members: readonly MemberJson[];
}

/** A /v1/status body, or undefined if it does not look like one (not a Flotilla node). */
function statusOf(json: unknown): StatusJson | undefined {
  const s = json as Partial<StatusJson> | undefined;
  if (typeof s?.id !== 'number' || typeof s.role !== 'string' || typeof s.term !== 'number') return undefined;
  return s as StatusJson;
}

/**
 * A client for Flotilla's HTTP API. It sends requests to the leader — found by asking every
 * endpoint's /v1/status, followed through the leader ids that 503 answers name, re-checked in the
 * background — so that writes do not pay a follower's forwarding hop. It moves on when an
 * endpoint fails, and retries a write with the same Idempotency-Key so that a retry is applied
 * once. Every error it throws is a FlotillaApiError with a stable `code` (docs/library.md).
 */
export class FlotillaClient {
  private readonly endpoints: string[];
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly leaderCheckMs: number;
  /** The endpoint that answered last: where to start while no leader is known. */
  private preferred = 0;
  /** The endpoint whose node said it leads, as an index into `endpoints`. */
  private leader: number | undefined;
  /** The term it led in when it said so (-1: named by another node); a later term's claim wins. */
  private leaderTerm = -1;
  /** When the leader was last confirmed (performance.now() ms). */
  private leaderCheckedAt = 0;
  private checking = false;
  /** Each endpoint's node id, as its /v1/status said: how a leader id maps to an endpoint. */
  private readonly ids: (number | undefined)[];
  /** The discovery under way; concurrent calls share it. */
  private discovery: Promise<void> | undefined;
  /** When a discovery last found no leader (performance.now() ms). */
  private fruitlessAt = Number.NEGATIVE_INFINITY;

  constructor(options: ClientOptions) {
    if (options.endpoints.length === 0) throw new ConfigError('FlotillaClient needs at least one endpoint');
    this.endpoints = options.endpoints.map((e) => e.replace(/\/+$/, ''));
    this.ids = this.endpoints.map(() => undefined);
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.attempts = options.attempts ?? 5;
    this.leaderCheckMs = options.leaderCheckMs ?? 5000;
    if (!(this.timeoutMs > 0)) throw new ConfigError(`timeoutMs must be positive, not ${this.timeoutMs}`);
    if (!Number.isSafeInteger(this.attempts) || this.attempts < 1) {
      throw new ConfigError(`attempts must be a positive integer, not ${this.attempts}`);
    }
    if (!(this.leaderCheckMs >= 0)) {
      throw new ConfigError(`leaderCheckMs must be 0 (never) or positive, not ${this.leaderCheckMs}`);
    }
  }

  /** The endpoint requests go to because its node said it leads; undefined while none is known. */
  get leaderEndpoint(): string | undefined {
    return this.leader === undefined ? undefined : this.endpoints[this.leader];
  }

  /** Reads a key; undefined when it does not exist. */
  async get(key: string, o: { consistency?: ReadConsistency } = {}): Promise<KeyValueJson | undefined> {
    try {
      return (await this.call(
        'GET',
        `/v1/kv/${encodeURIComponent(key)}${query(o.consistency)}`,
      )) as KeyValueJson;
    } catch (err) {
      if (err instanceof FlotillaApiError && err.code === 'ERR_KEY_NOT_FOUND') return undefined;
      throw err;
    }
  }

  /**
   * Sets a key. `ifModRevision`: compare-and-swap; `ifAbsent`: create only (ConditionFailedError
   * when the condition does not hold). Every attempt carries the same `idempotencyKey` (random
   * when not given).
   */
  async put(
    key: string,
    value: string,
    o: { ifModRevision?: number; ifAbsent?: boolean; idempotencyKey?: string } = {},
  ): Promise<{ key: string; revision: number }> {
    const headers: Record<string, string> = { 'Idempotency-Key': o.idempotencyKey ?? randomUUID() };
    if (o.ifModRevision !== undefined) headers['If-Match'] = String(o.ifModRevision);
    if (o.ifAbsent) headers['If-None-Match'] = '*';
    return (await this.call('PUT', `/v1/kv/${encodeURIComponent(key)}`, value, headers)) as {
      key: string;
      revision: number;
    };
  }

  /** Deletes a key (`deleted: 0` when it did not exist); the same `idempotencyKey` on every attempt. */
  async delete(
    key: string,
    o: { ifModRevision?: number; idempotencyKey?: string } = {},
  ): Promise<{ deleted: 0 | 1; revision: number }> {
    const headers: Record<string, string> = { 'Idempotency-Key': o.idempotencyKey ?? randomUUID() };
    if (o.ifModRevision !== undefined) headers['If-Match'] = String(o.ifModRevision);
    return (await this.call('DELETE', `/v1/kv/${encodeURIComponent(key)}`, undefined, headers)) as {
      deleted: 0 | 1;
      revision: number;
    };
  }

  async range(
    prefix: string,
    o: { limit?: number; consistency?: ReadConsistency } = {},
  ): Promise<{ items: KeyValueJson[]; revision: number; more: boolean }> {
    const params = new URLSearchParams({ prefix, limit: String(o.limit ?? 100) });
    if (o.consistency !== undefined) params.set('consistency', o.consistency);
    return (await this.call('GET', `/v1/kv?${params}`)) as {
      items: KeyValueJson[];
      revision: number;
      more: boolean;
    };
  }

  /** Hands leadership to member `to` (or the most up-to-date one); resolves with the new leader's id. */
  async transferLeadership(to?: number): Promise<number> {
    const body = JSON.stringify(to === undefined ? {} : { to });
    const r = (await this.call('POST', '/v1/leader/transfer', body, {
      'Content-Type': 'application/json',
    })) as {
      leader: number;
    };
    this.leaderMoved(r.leader);
    return r.leader;
  }

  /** The cluster's members as the answering node knows them (`match` when the leader answers). */
  async members(): Promise<MembersJson> {
    return (await this.call('GET', '/v1/members')) as MembersJson;
  }

  /**
   * Adds a voter (or, with `learner`, a non-voting member) that peers reach at `peerAddr`; resolves
   * with the new configuration once it has committed. Prefer a learner, promoted once caught up.
   */
  async addMember(m: { id: number; peerAddr: string; learner?: boolean }): Promise<MembersJson> {
    return this.change('POST', '/v1/members', JSON.stringify(m));
  }

  /** Makes learner `id` a voter; refused with ERR_LEARNER_BEHIND while it lags the leader. */
  async promoteMember(id: number): Promise<MembersJson> {
    return this.change('POST', `/v1/members/${id}/promote`);
  }

  /** Records that member `id` moved: its peers dial `peerAddr` from now on. */
  async updateMember(id: number, peerAddr: string): Promise<MembersJson> {
    return this.change('PUT', `/v1/members/${id}`, JSON.stringify({ peerAddr }));
  }

  /** Removes member `id` (the leader too: it leads until the change commits, then steps down). */
  async removeMember(id: number): Promise<MembersJson> {
    const view = await this.change('DELETE', `/v1/members/${id}`);
    if (this.leader !== undefined && this.ids[this.leader] === id) this.leader = undefined;
    return view;
  }

  /**
   * A configuration change is not idempotent (a retried add finds the member there already), so a
   * timeout is not retried: the caller reads members() to see whether it happened. A change
   * refused because another is in flight is retried.
   */
  private async change(method: string, path: string, body?: string): Promise<MembersJson> {
    const headers: Record<string, string> = body === undefined ? {} : { 'Content-Type': 'application/json' };
    return (await this.call(method, path, body, headers, CHANGE_RETRYABLE)) as MembersJson;
  }

  /** The status of one node: the leader's (once known), or that of `endpoint`. */
  async status(endpoint?: string): Promise<StatusJson> {
    if (endpoint === undefined) return (await this.call('GET', '/v1/status')) as StatusJson;
    const base = endpoint.replace(/\/+$/, '');
    const json = await this.once(base, 'GET', '/v1/status').catch((err: unknown) => {
      throw err instanceof FlotillaApiError ? err : new ClusterUnavailableError(err as Error);
    });
    const k = this.endpoints.indexOf(base);
    const s = statusOf(json);
    if (k >= 0 && s !== undefined) this.learn(k, s);
    return json as StatusJson;
  }

  // ---- sending, retrying, following the leader --------------------------------------------

  private async call(
    method: string,
    path: string,
    body?: string,
    headers: Record<string, string> = {},
    retryable?: ReadonlySet<string>,
  ): Promise<unknown> {
    let last: Error | undefined;
    /** The latest attempt that may have been carried out (a 504, or no answer). */
    let unknown: Error | undefined;
    /** An endpoint a 503 named as the leader's: tried next, without waiting. */
    let named: number | undefined;
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      const k = named ?? (await this.target(attempt));
      named = undefined;
      try {
        const result = await this.once(this.endpoints[k]!, method, path, body, headers);
        this.preferred = k;
        return result;
      } catch (err) {
        if (!shouldRetry(err, retryable)) {
          throw err instanceof FlotillaApiError ? err : new ClusterUnavailableError(err as Error);
        }
        last = err as Error;
        if (!neverCarriedOut(err)) unknown = last;
        named = this.afterFailure(k, err);
        if (named === undefined && attempt + 1 < this.attempts)
          await delay(Math.min(1000, 50 * 2 ** attempt));
      }
    }
    // An attempt that may have been carried out outweighs later refusals: the outcome is unknown.
    const failure = unknown ?? last;
    throw failure instanceof FlotillaApiError ? failure : new ClusterUnavailableError(failure);
  }

  /** The endpoint for an attempt: the leader's when known (found first if need be), else the next. */
  private async target(attempt: number): Promise<number> {
    if (
      this.leader === undefined &&
      this.endpoints.length > 1 &&
      performance.now() - this.fruitlessAt >= DISCOVERY_PAUSE_MS
    ) {
      await this.findLeader();
    }
    if (this.leader === undefined) return (this.preferred + attempt) % this.endpoints.length;
    this.checkLeaderLater();
    return this.leader;
  }

  /**
   * After endpoint `k` failed: forget it as the leader, unless it is merely overloaded (the
   * leader is busy, not gone). Returns the endpoint of the leader a 503 named, if known.
   */
  private afterFailure(k: number, err: unknown): number | undefined {
    if (err instanceof OverloadedError) return undefined;
    const named = err instanceof NoLeaderError ? this.endpointOf(err.leader) : undefined;
    if (named !== undefined && named !== k) {
      this.useLeader(named, -1);
      return named;
    }
    if (this.leader === k) this.leader = undefined;
    return undefined;
  }

  /** Asks every endpoint's /v1/status at once; done when one says it leads, or all have answered. */
  private findLeader(): Promise<void> {
    this.discovery ??= new Promise<void>((resolve) => {
      let pending = this.endpoints.length;
      this.endpoints.forEach((base, k) => {
        void this.probe(base).then((s) => {
          if (s !== undefined) this.learn(k, s);
          pending--;
          if (this.leader !== undefined || pending === 0) resolve();
        });
      });
    }).finally(() => {
      this.discovery = undefined;
      if (this.leader === undefined) this.fruitlessAt = performance.now();
    });
    return this.discovery;
  }

  /**
   * A deposed leader forwards writes to its successor, so nothing in its answers says it no longer
   * leads: every `leaderCheckMs` one request asks it, in the background.
   */
  private checkLeaderLater(): void {
    const k = this.leader;
    if (k === undefined || this.leaderCheckMs <= 0 || this.checking) return;
    if (performance.now() - this.leaderCheckedAt < this.leaderCheckMs) return;
    this.checking = true;
    this.leaderCheckedAt = performance.now();
    void this.probe(this.endpoints[k]!).then((s) => {
      this.checking = false;
      if (s !== undefined) this.learn(k, s);
      else if (this.leader === k) this.leader = undefined;
    });
  }

  /** Endpoint `k`'s status: its node id, and whether it leads (or who does, if it led before). */
  private learn(k: number, s: StatusJson): void {
    this.ids[k] = s.id;
    if (s.role === 'leader') {
      if (s.term >= this.leaderTerm || this.leader === undefined) this.useLeader(k, s.term);
      return;
    }
    if (this.leader !== k) return;
    this.leader = undefined;
    const next = this.endpointOf(s.leader ?? undefined);
    if (next !== undefined) this.useLeader(next, -1);
  }

  /** After a transfer to node `id`: its endpoint, if known, is the leader's. */
  private leaderMoved(id: number): void {
    const k = this.endpointOf(id);
    if (k === undefined) this.leader = undefined;
    else this.useLeader(k, -1);
  }

  private useLeader(k: number, term: number): void {
    this.leader = k;
    this.leaderTerm = term;
    this.leaderCheckedAt = performance.now();
  }

  private endpointOf(id: number | undefined): number | undefined {
    if (id === undefined) return undefined;
    const k = this.ids.indexOf(id);
    return k < 0 ? undefined : k;
  }

  /** GET /v1/status at `base`, or undefined when it fails or is not a Flotilla node's answer. */
  private probe(base: string): Promise<StatusJson | undefined> {
    return this.once(base, 'GET', '/v1/status').then(statusOf, () => undefined);
  }

  private async once(
    base: string,
    method: string,
    path: string,
    body?: string,
    headers: Record<string, string> = {},
  ): Promise<unknown> {
    const res = await fetch(`${base}${path}`, {
      method,
      body,
      headers,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    const json = jsonObject(text);
    if (res.ok && json !== undefined) return json;
    if (res.ok) {
      throw new FlotillaApiError('ERR_BAD_RESPONSE', res.status, `${base} answered ${path} with no JSON`, {});
    }
    const fields = json ?? {};
    const code = typeof fields.code === 'string' ? fields.code : `HTTP_${res.status}`;
    const message = typeof fields.message === 'string' ? fields.message : res.statusText;
    throw apiError(code, res.status, message, fields);
  }
}

/** Whether a failed attempt may be tried again (elsewhere): it certainly was not carried out, or is idempotent. */
function shouldRetry(err: unknown, retryable: ReadonlySet<string> | undefined): boolean {
  if (err instanceof FlotillaApiError) {
    return retryable === undefined
      ? RETRYABLE.has(err.code) || err.code === 'ERR_TIMEOUT'
      : retryable.has(err.code);
  }
  // No answer. A configuration change that may have reached the cluster is not sent again.
  return retryable === undefined || isNeverSent(err);
}

/** A refusal that says the request was not carried out, or a connection never made. */
function neverCarriedOut(err: unknown): boolean {
  return err instanceof FlotillaApiError ? CHANGE_RETRYABLE.has(err.code) : isNeverSent(err);
}

/** A JSON object body ({} when empty), or undefined when the body is something else. */
function jsonObject(text: string): Record<string, unknown> | undefined {
  if (text === '') return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function query(consistency: ReadConsistency | undefined): string {
  return consistency === undefined ? '' : `?consistency=${consistency}`;
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
