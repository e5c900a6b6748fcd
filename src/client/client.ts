import { randomUUID } from 'node:crypto';
import { FlotillaError } from '../raft/errors.js';

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
}

/** An error the server answered with; `code` is the API's stable code, `status` the HTTP status. */
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

/** A conditional write's condition did not hold; `current` is the key now (undefined: absent). */
export class ConditionFailedError extends FlotillaApiError {
  get current(): KeyValueJson | undefined {
    return (this.body.current ?? undefined) as KeyValueJson | undefined;
  }
}

/** No endpoint answered in time: a write's outcome is unknown (it may have been applied). */
export class ClusterUnavailableError extends FlotillaError {
  override readonly code = 'ERR_UNAVAILABLE';
  constructor(readonly lastError: Error | undefined) {
    super(`no endpoint could serve the request${lastError === undefined ? '' : `: ${lastError.message}`}`);
    this.name = 'ClusterUnavailableError';
  }
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

/** A connection refused or reset before any answer: the request was not carried out. */
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

/**
 * A client for Flotilla's HTTP API. It tries the endpoint that answered last (the leader, once
 * known), moves on when one fails, and retries a write with the same Idempotency-Key so that a
 * retry is never applied twice.
 */
export class FlotillaClient {
  private readonly endpoints: string[];
  private preferred = 0;
  private readonly timeoutMs: number;
  private readonly attempts: number;

  constructor(options: ClientOptions) {
    if (options.endpoints.length === 0) throw new FlotillaError('FlotillaClient needs at least one endpoint');
    this.endpoints = options.endpoints.map((e) => e.replace(/\/+$/, ''));
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.attempts = options.attempts ?? 5;
  }

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

  /** Sets a key. `ifModRevision`: compare-and-swap; `ifAbsent`: create only. */
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
    return this.change('DELETE', `/v1/members/${id}`);
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

  /** The status of one node (the first that answers, or `endpoint`). */
  async status(endpoint?: string): Promise<Record<string, unknown>> {
    if (endpoint !== undefined)
      return (await this.once(endpoint.replace(/\/+$/, ''), 'GET', '/v1/status')) as Record<string, unknown>;
    return (await this.call('GET', '/v1/status')) as Record<string, unknown>;
  }

  private async call(
    method: string,
    path: string,
    body?: string,
    headers: Record<string, string> = {},
    retryable?: ReadonlySet<string>,
  ): Promise<unknown> {
    let last: Error | undefined;
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      const k = (this.preferred + attempt) % this.endpoints.length;
      try {
        const result = await this.once(this.endpoints[k]!, method, path, body, headers);
        this.preferred = k;
        return result;
      } catch (err) {
        if (err instanceof FlotillaApiError) {
          const retry =
            retryable === undefined
              ? RETRYABLE.has(err.code) || err.code === 'ERR_TIMEOUT'
              : retryable.has(err.code);
          if (!retry) throw err;
        } else if (retryable !== undefined && !isNeverSent(err)) {
          // The change may have reached the cluster: do not send it again.
          throw err;
        }
        last = err as Error;
        if (attempt + 1 < this.attempts) await delay(Math.min(1000, 50 * 2 ** attempt));
      }
    }
    throw new ClusterUnavailableError(last);
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
    const json = (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>;
    if (res.ok) return json;
    const code = typeof json.code === 'string' ? json.code : `HTTP_${res.status}`;
    const message = typeof json.message === 'string' ? json.message : res.statusText;
    if (code === 'ERR_CONDITION_FAILED') throw new ConditionFailedError(code, res.status, message, json);
    throw new FlotillaApiError(code, res.status, message, json);
  }
}

function query(consistency: ReadConsistency | undefined): string {
  return consistency === undefined ? '' : `?consistency=${consistency}`;
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
