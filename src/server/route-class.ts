/**
 * The classes HTTP requests are counted by in /metrics: a handful, whatever the key, so a label
 * never grows with the key space. `status` is /v1/status and the /healthz and /readyz probes;
 * `other` is everything else (leader transfer, unknown paths, a method a route does not have).
 */
export const ROUTE_CLASSES = [
  'kv_get',
  'kv_put',
  'kv_delete',
  'kv_range',
  'members',
  'status',
  'metrics',
  'other',
] as const;

export type RouteClass = (typeof ROUTE_CLASSES)[number];

const KV_GET = ROUTE_CLASSES.indexOf('kv_get');
const KV_PUT = ROUTE_CLASSES.indexOf('kv_put');
const KV_DELETE = ROUTE_CLASSES.indexOf('kv_delete');
const KV_RANGE = ROUTE_CLASSES.indexOf('kv_range');
const MEMBERS = ROUTE_CLASSES.indexOf('members');
const STATUS = ROUTE_CLASSES.indexOf('status');
const METRICS = ROUTE_CLASSES.indexOf('metrics');
const OTHER = ROUTE_CLASSES.indexOf('other');

/** The ROUTE_CLASSES index of a request, from its method and raw URL (no URL parsing). */
export function routeClassOf(method: string | undefined, url: string | undefined): number {
  const raw = url ?? '/';
  const q = raw.indexOf('?');
  const path = q === -1 ? raw : raw.slice(0, q);
  if (path.startsWith('/v1/kv/') && path.length > '/v1/kv/'.length) {
    if (method === 'GET' || method === 'HEAD') return KV_GET;
    if (method === 'PUT') return KV_PUT;
    if (method === 'DELETE') return KV_DELETE;
    return OTHER;
  }
  if (path === '/v1/kv' || path === '/v1/kv/') return method === 'GET' ? KV_RANGE : OTHER;
  if (path === '/v1/members' || path.startsWith('/v1/members/')) return MEMBERS;
  if (path === '/v1/status' || path === '/healthz' || path === '/readyz') return STATUS;
  if (path === '/metrics') return METRICS;
  return OTHER;
}
