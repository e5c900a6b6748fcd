import type { Scalar } from '../../src/check/index.js';
import type { KvOp } from './history-recorder.js';

/** What a node answered, or why there was no answer. */
export type HttpAnswer =
  | {
      readonly status: number;
      readonly code: string | undefined;
      readonly body: Record<string, unknown>;
      /** A read's X-Flotilla-Consistency header: what it was served as. */
      readonly servedAs?: string;
    }
  | {
      readonly error: string;
      /** The connection was refused: the request never left this process, so it never ran. */
      readonly refused: boolean;
    };

/** A request the workers send; `cas` is a PUT with `If-Match` (or `If-None-Match: *` to create). */
export interface KvRequest {
  readonly f: KvOp;
  readonly key: string;
  readonly value?: string;
  /** cas: the modRevision the key had when read; undefined = create only. */
  readonly ifModRevision?: number;
  /** get: `linearizable` when unset; `lease` and `log` promise the same (docs/api.md); `stale` is local. */
  readonly consistency?: ReadMode | 'stale';
}

/** The read consistencies docs/api.md promises are linearizable. */
export type ReadMode = 'linearizable' | 'lease' | 'log';

/** How an answer goes into the history (docs/checker.md), with what a `get` read. */
export type Classified =
  | {
      readonly type: 'ok';
      readonly value: Scalar;
      readonly modRevision: number | undefined;
      /** A read: what the node says it was served as (`linearizable`, `lease`, `log`). */
      readonly servedAs?: string;
    }
  | { readonly type: 'fail'; readonly reason: string; readonly current?: CurrentKey }
  | { readonly type: 'info'; readonly reason: string; readonly anomaly: boolean }
  | { readonly type: 'leave-out'; readonly reason: string };

/** What a 412 says the key holds now: its value and modRevision, or absent (`value` null). */
export interface CurrentKey {
  readonly value: Scalar;
  readonly modRevision: number | undefined;
}

/**
 * 503 codes that docs/api.md promises were never applied: the write was never proposed, or its
 * entry was overwritten by another leader's; a read was not served.
 */
export const NEVER_APPLIED: ReadonlySet<string> = new Set([
  'ERR_NO_LEADER',
  'ERR_OVERLOADED',
  'ERR_PROPOSAL_DROPPED',
  'ERR_TRANSFER_IN_PROGRESS',
  'ERR_READ_UNAVAILABLE',
]);

/** Sends one request to the node at `base`; never throws. */
export async function sendKv(base: string, req: KvRequest, timeoutMs: number): Promise<HttpAnswer> {
  const path = `${base}/v1/kv/${encodeURIComponent(req.key)}`;
  const headers: Record<string, string> = {};
  let method = 'GET';
  const url =
    req.f === 'get' && req.consistency !== undefined ? `${path}?consistency=${req.consistency}` : path;
  if (req.f === 'put' || req.f === 'cas') method = 'PUT';
  if (req.f === 'delete') method = 'DELETE';
  if (req.f === 'cas') {
    if (req.ifModRevision === undefined) headers['If-None-Match'] = '*';
    else headers['If-Match'] = String(req.ifModRevision);
  }
  try {
    const res = await fetch(url, {
      method,
      headers,
      ...(req.value === undefined ? {} : { body: req.value }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    const body = parseBody(text);
    const served = res.headers.get('x-flotilla-consistency');
    return {
      status: res.status,
      code: typeof body.code === 'string' ? body.code : undefined,
      body,
      ...(served === null ? {} : { servedAs: served }),
    };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const refused = e.cause?.code === 'ECONNREFUSED';
    return { error: `${e.name}: ${e.cause?.code ?? e.message}`, refused };
  }
}

function parseBody(text: string): Record<string, unknown> {
  if (text === '') return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return { unparsed: text.slice(0, 200) };
  }
}

/**
 * Maps an answer to the history: 200 → ok; 404 on get → ok with `null`; 412 on cas → fail (the
 * condition did not hold); a {@link NEVER_APPLIED} 503 → fail, or for a cas left out (it never
 * ran, so it observed nothing), as is a refused connection (the request was never sent); 504, a
 * timeout or a lost connection → info (unknown). Anything
 * else is also info, flagged as an anomaly: the API does not document it. `neverApplied` is
 * {@link NEVER_APPLIED} unless a run distrusts some of those promises (a 503 not in it is info).
 */
export function classify(f: KvOp, answer: HttpAnswer, neverApplied = NEVER_APPLIED): Classified {
  if ('error' in answer) {
    if (!answer.refused) return { type: 'info', reason: answer.error, anomaly: false };
    return f === 'cas' ? { type: 'leave-out', reason: answer.error } : { type: 'fail', reason: answer.error };
  }
  const { status, code, body } = answer;
  if (status === 200) {
    const value = f === 'get' ? (typeof body.value === 'string' ? body.value : null) : null;
    const rev = f === 'get' ? body.modRevision : body.revision;
    const servedAs = answer.servedAs === undefined ? {} : { servedAs: answer.servedAs };
    return { type: 'ok', value, modRevision: typeof rev === 'number' ? rev : undefined, ...servedAs };
  }
  if (status === 404 && code === 'ERR_KEY_NOT_FOUND' && f === 'get') {
    const servedAs = answer.servedAs === undefined ? {} : { servedAs: answer.servedAs };
    return { type: 'ok', value: null, modRevision: undefined, ...servedAs };
  }
  if (status === 412 && code === 'ERR_CONDITION_FAILED' && f === 'cas') {
    return { type: 'fail', reason: code, current: currentOf(body.current) };
  }
  if (status === 503 && code !== undefined && neverApplied.has(code)) {
    return f === 'cas' ? { type: 'leave-out', reason: code } : { type: 'fail', reason: code };
  }
  if (status === 504 && code === 'ERR_TIMEOUT') return { type: 'info', reason: code, anomaly: false };
  if (status === 503 && code !== undefined && NEVER_APPLIED.has(code)) {
    return { type: 'info', reason: `${code} (distrusted)`, anomaly: false };
  }
  const message = typeof body.message === 'string' ? `: ${body.message}` : '';
  return { type: 'info', reason: `${status} ${code ?? 'no code'}${message}`, anomaly: true };
}

function currentOf(current: unknown): CurrentKey | undefined {
  if (current === null) return { value: null, modRevision: undefined };
  if (typeof current !== 'object' || current === undefined) return undefined;
  const { value, modRevision } = current as { value?: unknown; modRevision?: unknown };
  if (typeof value !== 'string' || typeof modRevision !== 'number') return undefined;
  return { value, modRevision };
}
