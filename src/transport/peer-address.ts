import { ConfigError } from '../raft/errors.js';
import type { PeerAddress } from './transport.js';

/** `host:port`, or `[v6]:port` for an IPv6 literal: an unbracketed IPv6 address is ambiguous. */
const HOST_PORT = /^(\[[0-9A-Za-z:.%_-]+\]|[^:[\]\s]+):(\d{1,5})$/;

/**
 * The address in a "host:port" string — how configurations and the command line carry peer
 * addresses ("10.0.0.2:7101", "node-2.internal:7101", "[::1]:7101"). Throws ConfigError, naming
 * what is wrong, for anything else or a port outside [1, 65535].
 */
export function parsePeerAddress(text: string): PeerAddress {
  const m = HOST_PORT.exec(text);
  if (m === null) {
    throw new ConfigError(
      `transport: a peer address must be "host:port" (IPv6 as "[::1]:7101"), got ${JSON.stringify(text)}`,
    );
  }
  const port = Number(m[2]);
  if (port < 1 || port > 65535) {
    throw new ConfigError(
      `transport: the port of peer address ${JSON.stringify(text)} must be in [1, 65535]`,
    );
  }
  const host = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
  return { host, port };
}

/** "host:port", with an IPv6 host in brackets: the inverse of parsePeerAddress, for logs. */
export function formatPeerAddress(a: PeerAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
