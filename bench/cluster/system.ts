/**
 * What the load generator needs from a system under test (Flotilla or etcd): where to send each
 * request and how to tell a good reply from a bad one. Requests are built once per key, before
 * the measured window, so the loop only picks one.
 */

/** A read consistency as a query parameter: `linearizable`, `stale`, `lease`, later `log`. */
export type ReadMode = string;

export interface BenchRequest {
  readonly method: 'GET' | 'PUT' | 'POST';
  readonly path: string;
  readonly body: Buffer | undefined;
  readonly headers: Readonly<Record<string, string>>;
}

/** A base URL split once for node:http. */
export interface Endpoint {
  readonly url: string;
  readonly host: string;
  readonly port: number;
}

export function endpoint(url: string): Endpoint {
  const u = new URL(url);
  return { url: url.replace(/\/$/, ''), host: u.hostname, port: Number(u.port || 80) };
}

export type ReadProbe =
  | { readonly ok: true; readonly servedAs: string }
  | { readonly ok: false; readonly why: string };

export interface SystemUnderTest {
  /** 'flotilla' or 'etcd'. */
  readonly name: string;
  readonly version: string;
  /** Every member's client endpoint, and the leader's when it was found. */
  readonly endpoints: readonly Endpoint[];
  readonly leader: Endpoint;
  /** Server processes this bench started (their CPU time is measured); empty when only targeted. */
  readonly pids: readonly number[];
  /** A put of `value` to key number `key`. */
  write(key: number): BenchRequest;
  /** A read of key number `key` with `mode`; undefined when the system has no such mode. */
  read(key: number, mode: ReadMode): BenchRequest | undefined;
  /** Whether a 2xx read reply holds the key (etcd answers 200 with no `kvs` for a missing key). */
  readFound(body: Buffer): boolean;
  /** One read of `mode`: whether the system serves it, and as what (e.g. lease → linearizable). */
  probeRead(mode: ReadMode): Promise<ReadProbe>;
  /** Stops what the bench started and removes its temp dir; a no-op for a targeted cluster. */
  stop(): Promise<void>;
}

/** Key number `k` as text: `bench-000042`. */
export function keyName(k: number): string {
  return `bench-${String(k).padStart(6, '0')}`;
}

/** A printable value of `bytes` bytes, the same for every write (neither system compresses). */
export function benchValue(bytes: number): Buffer {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const b = Buffer.alloc(bytes);
  for (let k = 0; k < bytes; k++) b[k] = alphabet.charCodeAt((k * 7 + 3) % alphabet.length);
  return b;
}
