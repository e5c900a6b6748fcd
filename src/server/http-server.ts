import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { KEY_BYTES_MAX, type KeyValue, type KvResult } from '../kv/types.js';
import { NONE } from '../raft/types.js';
import { HttpError, httpErrorOf } from './http-errors.js';
import type { Consistency, KvService, WriteOptions } from './kv-service.js';
import { membersBody, parseAddBody, parseMemberId, parsePeerAddr, runChange } from './members-routes.js';
import type { FlotillaMetrics } from './metrics.js';
import { routeClassOf } from './route-class.js';

export interface HttpServerOptions {
  readonly service: KvService;
  readonly valueBytesMax: number;
  readonly host: string;
  readonly port: number;
  /** Serve GET /metrics from it and count every request in it (default: no /metrics, no counting). */
  readonly metrics?: FlotillaMetrics;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The client API of docs/api.md over node:http: /v1/kv (get, put, delete, range, conditions,
 * idempotency keys), /v1/status, /healthz, /readyz, /metrics. Every error is JSON `{code, message}`.
 */
export class HttpServer {
  private server: Server | undefined;

  constructor(private readonly opts: HttpServerOptions) {}

  async start(): Promise<{ host: string; port: number }> {
    const server = createServer((req, res) => {
      void this.serve(req, res);
    });
    server.keepAliveTimeout = 65_000;
    server.on('clientError', answerClientError);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    const addr = server.address() as AddressInfo;
    return { host: addr.address, port: addr.port };
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const metrics = this.opts.metrics;
    const started = metrics === undefined ? 0 : performance.now();
    try {
      await this.handle(req, res);
    } catch (err) {
      this.sendError(res, httpErrorOf(err));
    }
    if (metrics !== undefined) {
      const seconds = (performance.now() - started) / 1000;
      metrics.httpRequest(routeClassOf(req.method, req.url), res.statusCode, seconds);
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://flotilla');
    const path = url.pathname;
    if (path === '/metrics') return this.metrics(req, res);
    if (path === '/healthz') return this.json(res, 200, { ok: true });
    if (path === '/readyz') return this.readyz(res);
    if (path === '/v1/status') return this.status(req, res);
    if (path === '/v1/leader/transfer') return this.transfer(req, res);
    if (path === '/v1/members' || path.startsWith('/v1/members/')) return this.membersRoute(req, res, path);
    if (path === '/v1/kv' || path === '/v1/kv/') return this.range(req, res, url);
    if (path.startsWith('/v1/kv/')) return this.key(req, res, url, path.slice('/v1/kv/'.length));
    throw new HttpError(404, 'ERR_NOT_FOUND', `no route for ${req.method} ${path}; see docs/api.md`);
  }

  private async key(req: IncomingMessage, res: ServerResponse, url: URL, rawKey: string): Promise<void> {
    const base64 = encodingOf(url) === 'base64';
    const key = parseKey(rawKey, base64);
    switch (req.method) {
      case 'GET':
      case 'HEAD': {
        const { kv, servedAs } = await this.opts.service.get(key, consistencyOf(url));
        res.setHeader('X-Flotilla-Consistency', servedAs);
        if (kv === undefined) {
          throw new HttpError(404, 'ERR_KEY_NOT_FOUND', `key ${JSON.stringify(rawKey)} does not exist`);
        }
        res.setHeader('ETag', `"${kv.modRevision}"`);
        return this.json(res, 200, { ...kvJson(kv, base64), consistency: servedAs });
      }
      case 'PUT': {
        const value = await readBody(req, this.opts.valueBytesMax, base64);
        const result = await this.opts.service.put(key, value, writeOptions(req, true));
        return this.writeReply(res, result, base64, (r) => ({
          key: rawKeyText(key, base64),
          revision: r.revision,
        }));
      }
      case 'DELETE': {
        const result = await this.opts.service.delete(key, writeOptions(req, false));
        return this.writeReply(res, result, base64, (r) => ({
          deleted: r.op === 'delete' && r.deleted ? 1 : 0,
          revision: r.revision,
        }));
      }
      default:
        res.setHeader('Allow', 'GET, HEAD, PUT, DELETE');
        throw new HttpError(405, 'ERR_METHOD_NOT_ALLOWED', `${req.method} is not supported on /v1/kv/{key}`);
    }
  }

  private writeReply(
    res: ServerResponse,
    result: KvResult,
    base64: boolean,
    ok: (r: Extract<KvResult, { ok: true }>) => object,
  ): void {
    if (result.ok) {
      this.json(res, 200, ok(result));
      return;
    }
    switch (result.code) {
      case 'ERR_CONDITION_FAILED':
        this.json(res, 412, {
          code: result.code,
          message: 'the condition (If-Match / If-None-Match) did not hold; nothing was written',
          current: result.current === undefined ? null : kvJson(result.current, base64),
        });
        return;
      case 'ERR_SESSION_STALE':
        throw new HttpError(409, result.code, 'this idempotency key was used for an older request');
      case 'ERR_BAD_COMMAND':
        throw new HttpError(400, result.code, result.message);
    }
  }

  private async range(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (req.method !== 'GET') {
      throw new HttpError(405, 'ERR_METHOD_NOT_ALLOWED', `${req.method} is not supported on /v1/kv`);
    }
    const base64 = encodingOf(url) === 'base64';
    const prefixText = url.searchParams.get('prefix') ?? '';
    const prefix = prefixText === '' ? new Uint8Array(0) : parseKey(prefixText, base64, 'prefix');
    const limitText = url.searchParams.get('limit') ?? '100';
    const limit = Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
      throw new HttpError(
        400,
        'ERR_BAD_REQUEST',
        `limit must be an integer from 1 to 10000, got ${limitText}`,
      );
    }
    const { result, servedAs } = await this.opts.service.range(prefix, limit, consistencyOf(url));
    res.setHeader('X-Flotilla-Consistency', servedAs);
    return this.json(res, 200, {
      items: result.items.map((kv) => kvJson(kv, base64)),
      revision: result.revision,
      more: result.more,
      consistency: servedAs,
    });
  }

  private status(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET') throw new HttpError(405, 'ERR_METHOD_NOT_ALLOWED', 'use GET');
    const node = this.opts.service.node;
    const s = node.status();
    const view = node.members();
    // The core runs a learner as a follower that never campaigns; the configuration says which it is.
    const learner = view.members.some((m) => m.id === s.id && m.role === 'learner');
    this.json(res, 200, {
      id: Number(s.id),
      role: learner ? 'learner' : s.role,
      term: s.term,
      leader: s.leader === undefined || s.leader === NONE ? null : Number(s.leader),
      commitIndex: s.commitIndex,
      appliedIndex: s.appliedIndex,
      // Only what docs/api.md promises here; match and active are GET /v1/members's.
      members: view.members.map((m) => ({
        id: Number(m.id),
        peerAddr: m.address ?? null,
        learner: m.role === 'learner',
      })),
    });
  }

  /**
   * GET /v1/members; POST /v1/members {"id","peerAddr","learner"?}; POST /v1/members/{id}/promote;
   * PUT /v1/members/{id} {"peerAddr"}; DELETE /v1/members/{id}. A change answers once it has
   * committed (docs/membership.md).
   */
  private async membersRoute(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const node = this.opts.service.node;
    const rest = path
      .slice('/v1/members'.length)
      .split('/')
      .filter((p) => p !== '');
    if (rest.length === 0) {
      if (req.method === 'GET') return this.json(res, 200, membersBody(node.members(), node.status().leader));
      if (req.method !== 'POST') throw new HttpError(405, 'ERR_METHOD_NOT_ALLOWED', 'use GET or POST');
      const parsed = jsonBody(await readBody(req, 4096, false), '{"id": 4, "peerAddr": "127.0.0.1:7104"}');
      return this.json(res, 200, await runChange(node, parseAddBody(parsed)));
    }
    const id = parseMemberId(rest[0]);
    if (rest.length === 2 && rest[1] === 'promote') {
      if (req.method !== 'POST') throw new HttpError(405, 'ERR_METHOD_NOT_ALLOWED', 'use POST');
      return this.json(res, 200, await runChange(node, { type: 'promote', id }));
    }
    if (rest.length === 1) {
      if (req.method === 'DELETE') return this.json(res, 200, await runChange(node, { type: 'remove', id }));
      if (req.method !== 'PUT') throw new HttpError(405, 'ERR_METHOD_NOT_ALLOWED', 'use PUT or DELETE');
      const address = parsePeerAddr(
        jsonBody(await readBody(req, 4096, false), '{"peerAddr": "10.0.0.4:7104"}').peerAddr,
      );
      return this.json(res, 200, await runChange(node, { type: 'update', id, address }));
    }
    throw new HttpError(404, 'ERR_NOT_FOUND', `no route for ${req.method} ${path}; see docs/api.md`);
  }

  /** POST /v1/leader/transfer {"to"?: id}: hand leadership over (thesis §3.10). */
  private async transfer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') throw new HttpError(405, 'ERR_METHOD_NOT_ALLOWED', 'use POST');
    const body = await readBody(req, 1024, false);
    let to: string | undefined;
    if (body.length > 0) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(decoder.decode(body));
      } catch {
        throw new HttpError(400, 'ERR_BAD_REQUEST', 'the body must be JSON like {"to": 2} (or empty)');
      }
      const raw = (parsed as { to?: unknown } | null)?.to;
      if (raw !== undefined && raw !== null) {
        if (!Number.isSafeInteger(raw) || (raw as number) < 1) {
          throw new HttpError(400, 'ERR_BAD_REQUEST', '"to" must be a member id (a positive integer)');
        }
        to = String(raw);
      }
    }
    const leader = await this.opts.service.node.transferLeadership(to);
    this.json(res, 200, { leader: Number(leader) });
  }

  /** GET /metrics: Prometheus text, from local state only (no Raft round), with or without a leader. */
  private async metrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const metrics = this.opts.metrics;
    if (metrics === undefined) {
      throw new HttpError(404, 'ERR_NOT_FOUND', 'metrics are not enabled on this server');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      throw new HttpError(405, 'ERR_METHOD_NOT_ALLOWED', 'use GET');
    }
    const { contentType, body } = await metrics.exposition();
    const bytes = encoder.encode(body);
    res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': bytes.length });
    res.end(bytes);
  }

  private readyz(res: ServerResponse): void {
    const s = this.opts.service.node.status();
    const ready = s.leader !== undefined && s.appliedIndex >= s.commitIndex;
    if (ready) {
      this.json(res, 200, { ready: true, leader: Number(s.leader) });
      return;
    }
    throw new HttpError(
      503,
      'ERR_NOT_READY',
      s.leader === undefined ? 'no leader is known' : 'still applying the log',
    );
  }

  private json(res: ServerResponse, status: number, body: object): void {
    const bytes = encoder.encode(JSON.stringify(body));
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': bytes.length });
    res.end(bytes);
  }

  private sendError(res: ServerResponse, err: HttpError): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(err.retryAfterSeconds));
    this.json(res, err.status, { code: err.code, message: err.message, ...err.extra });
  }
}

function encodingOf(url: URL): 'utf8' | 'base64' {
  const e = url.searchParams.get('encoding');
  if (e === null || e === 'utf8' || e === 'utf-8') return 'utf8';
  if (e === 'base64') return 'base64';
  throw new HttpError(400, 'ERR_BAD_REQUEST', `encoding must be utf8 or base64, got ${e}`);
}

function consistencyOf(url: URL): Consistency {
  const c = url.searchParams.get('consistency') ?? 'linearizable';
  if (c === 'linearizable' || c === 'lease' || c === 'stale' || c === 'log') return c;
  throw new HttpError(
    400,
    'ERR_BAD_REQUEST',
    `consistency must be linearizable, lease, stale or log, got ${c}`,
  );
}

function parseKey(raw: string, base64: boolean, what = 'key'): Uint8Array {
  let text: string;
  try {
    text = decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, 'ERR_BAD_KEY', `the ${what} is not valid percent-encoding`);
  }
  const key = base64 ? decodeBase64(text) : encoder.encode(text);
  if (key === undefined) {
    throw new HttpError(
      400,
      'ERR_BAD_KEY',
      `the ${what} is not valid base64 (A-Z a-z 0-9 + / or - _, padded with = to a multiple of 4 or not padded)`,
    );
  }
  if (key.length === 0) throw new HttpError(400, 'ERR_BAD_KEY', `the ${what} must not be empty`);
  if (key.length > KEY_BYTES_MAX) {
    throw new HttpError(
      400,
      'ERR_BAD_KEY',
      `the ${what} is ${key.length} bytes; at most ${KEY_BYTES_MAX} are allowed`,
    );
  }
  return new Uint8Array(key.buffer, key.byteOffset, key.length);
}

function rawKeyText(key: Uint8Array, base64: boolean): string {
  return base64 ? Buffer.from(key).toString('base64') : decoder.decode(key);
}

function kvJson(kv: KeyValue, base64: boolean): object {
  const text = (b: Uint8Array, what: string) =>
    base64 ? Buffer.from(b).toString('base64') : safeUtf8(b, what);
  return {
    key: text(kv.key, 'key'),
    value: text(kv.value, 'value'),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
  };
}

function safeUtf8(b: Uint8Array, what: string): string {
  try {
    return decoder.decode(b);
  } catch {
    throw new HttpError(406, 'ERR_NOT_UTF8', `the ${what} is not valid UTF-8: ask with ?encoding=base64`);
  }
}

function writeOptions(req: IncomingMessage, put: boolean): WriteOptions {
  const ifMatch = req.headers['if-match'];
  const ifNoneMatch = req.headers['if-none-match'];
  const idem = req.headers['idempotency-key'];
  let ifModRevision: number | undefined;
  if (typeof ifMatch === 'string') {
    const bare = ifMatch.trim().replace(/^"(.*)"$/, '$1');
    ifModRevision = Number(bare);
    if (!/^\d+$/.test(bare) || !Number.isSafeInteger(ifModRevision) || ifModRevision < 1) {
      throw new HttpError(
        400,
        'ERR_BAD_REQUEST',
        `If-Match must be a modRevision (a positive integer), got ${ifMatch}`,
      );
    }
  }
  if (ifNoneMatch !== undefined && (!put || ifNoneMatch.trim() !== '*')) {
    throw new HttpError(
      400,
      'ERR_BAD_REQUEST',
      'If-None-Match supports only "*" (create only), and only on PUT',
    );
  }
  if (ifModRevision !== undefined && ifNoneMatch !== undefined) {
    throw new HttpError(400, 'ERR_BAD_REQUEST', 'use If-Match or If-None-Match, not both');
  }
  if (typeof idem === 'string' && (idem.length === 0 || idem.length > 200)) {
    throw new HttpError(400, 'ERR_BAD_REQUEST', 'Idempotency-Key must be 1 to 200 characters');
  }
  return {
    ifModRevision,
    ifAbsent: ifNoneMatch !== undefined,
    idempotencyKey: typeof idem === 'string' ? idem : undefined,
  };
}

/** A JSON object body, or 400 with an example of the expected shape. */
function jsonBody(body: Uint8Array, example: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(body));
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(400, 'ERR_BAD_REQUEST', `the body must be a JSON object like ${example}`);
  }
  return parsed as Record<string, unknown>;
}

/** Reads the request body, refusing more than `max` bytes (after base64 decoding when asked). */
async function readBody(req: IncomingMessage, max: number, base64: boolean): Promise<Uint8Array> {
  const limit = base64 ? Math.ceil((max * 4) / 3) + 4 : max;
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw tooLarge(max);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw tooLarge(max);
    chunks.push(chunk as Buffer);
  }
  const body = Buffer.concat(chunks);
  // Spaces and line breaks in a base64 body are skipped (the `base64` tool wraps its output).
  const bytes = base64 ? decodeBase64(body.toString('latin1').replace(/[ \t\r\n]/g, '')) : body;
  if (bytes === undefined) {
    throw new HttpError(
      400,
      'ERR_BAD_VALUE',
      'with ?encoding=base64 the body must be base64 (A-Z a-z 0-9 + / or - _, = padding)',
    );
  }
  if (bytes.length > max) throw tooLarge(max);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

function tooLarge(max: number): HttpError {
  return new HttpError(413, 'ERR_TOO_LARGE', `the value is larger than the ${max}-byte limit`);
}

/**
 * Strict base64, standard or URL-safe alphabet, padded or not: `undefined` for anything else.
 * Buffer.from(text, 'base64') alone skips characters it does not know and ignores stray bits,
 * so a typo would store other bytes than the client meant.
 */
export function decodeBase64(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) return undefined;
  if (text.endsWith('=') && text.length % 4 !== 0) return undefined;
  const unpadded = text.replace(/=+$/, '').replaceAll('-', '+').replaceAll('_', '/');
  const bytes = Buffer.from(unpadded, 'base64');
  // Only the canonical spelling of these bytes is accepted (no leftover character, no stray bits).
  if (bytes.toString('base64').replace(/=+$/, '') !== unpadded) return undefined;
  return bytes;
}

/**
 * Answers a request Node's HTTP parser refused (a bad method, a malformed request line or
 * header) with the API's JSON error shape, then closes the connection: after a parse error the
 * rest of the stream cannot be framed. Nothing is written when a response on that connection has
 * begun already (the bytes would corrupt it); Node's default handler makes the same check.
 */
function answerClientError(err: Error & { code?: string; reason?: string }, socket: Duplex): void {
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent === true) {
    socket.destroy();
    return;
  }
  const [status, code, message]: [number, string, string] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'ERR_HEADERS_TOO_LARGE', 'the request headers are larger than the server accepts']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'ERR_REQUEST_TIMEOUT', 'the request did not arrive in full in time']
        : [
            400,
            'ERR_BAD_REQUEST',
            `the request is not valid HTTP/1.1 (${err.reason ?? err.message}${err.code === undefined ? '' : `, ${err.code}`})`,
          ];
  const body = encoder.encode(JSON.stringify({ code, message }));
  const head =
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  socket.write(head);
  socket.end(body, () => socket.destroy());
}
