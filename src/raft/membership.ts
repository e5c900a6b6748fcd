import { InvariantError } from './assert.js';
import { committedIndex, quorumSize, VoteResult } from './quorum.js';
import {
  type Entry,
  EntryKind,
  type Index,
  index,
  type NodeId,
  type SnapshotMeta,
  type Term,
} from './types.js';

/**
 * Who is in the cluster. While a joint configuration C(old,new) is in force (thesis §4.3),
 * `outgoing` holds the old voters and every decision — election, commit, CheckQuorum, read and
 * lease confirmation — needs a majority of `voters` AND a majority of `outgoing`.
 */
export interface Membership {
  readonly voters: readonly NodeId[];
  /** The old voters of a joint configuration; empty otherwise. */
  readonly outgoing: readonly NodeId[];
  /** Non-voting members: they receive the log but never vote, campaign or count toward a quorum. */
  readonly learners: readonly NodeId[];
  /**
   * Where to reach each member (the host's peer addresses, e.g. "127.0.0.1:7101"). The core never
   * reads them; it only carries them in Config entries and snapshots so that every node, a new one
   * included, learns the addresses together with the configuration that needs them.
   */
  readonly addresses?: Readonly<Record<NodeId, string>>;
}

/** What a configuration change asks for: the voters and learners after it, and their addresses. */
export interface ConfChangeTarget {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** Every member's address (absent: keep the current configuration's). */
  readonly addresses?: Readonly<Record<NodeId, string>>;
}

export function simpleMembership(
  voters: readonly NodeId[],
  addresses?: Readonly<Record<NodeId, string>>,
): Membership {
  return {
    voters: [...voters],
    outgoing: [],
    learners: [],
    ...(addresses ? { addresses: { ...addresses } } : {}),
  };
}

/** The addresses of `m`'s members only (a removed member's address is dropped). */
export function addressesOf(
  m: Membership,
  known: Readonly<Record<NodeId, string>> | undefined,
): Record<NodeId, string> | undefined {
  if (known === undefined) return undefined;
  const out: Record<NodeId, string> = {};
  for (const id of members(m)) if (known[id] !== undefined) out[id] = known[id]!;
  return out;
}

export function isJoint(m: Membership): boolean {
  return m.outgoing.length > 0;
}

/** A voter in either half of a joint configuration. */
export function isVoter(m: Membership, id: NodeId): boolean {
  return m.voters.includes(id) || m.outgoing.includes(id);
}

/** Every member, voters first, each once. */
export function members(m: Membership): NodeId[] {
  return [...new Set([...m.voters, ...m.outgoing, ...m.learners])];
}

function majority(ids: readonly NodeId[], has: (id: NodeId) => boolean): boolean {
  if (ids.length === 0) return true;
  let n = 0;
  for (const id of ids) if (has(id)) n++;
  return n >= quorumSize(ids.length);
}

/** Does the set of nodes `has` picks out form a quorum (of both halves when joint)? */
export function isQuorum(m: Membership, has: (id: NodeId) => boolean): boolean {
  return majority(m.voters, has) && majority(m.outgoing, has);
}

/** The highest index stored on a quorum (§5.3), the smaller of the two halves' when joint. */
export function committedIndexOf(m: Membership, matchOf: (id: NodeId) => Index): Index {
  const incoming = committedIndex(m.voters.map(matchOf));
  if (m.outgoing.length === 0) return incoming;
  return index(Math.min(incoming, committedIndex(m.outgoing.map(matchOf))));
}

function tally(ids: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (ids.length === 0) return VoteResult.Won;
  let granted = 0;
  let rejected = 0;
  for (const id of ids) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const q = quorumSize(ids.length);
  if (granted >= q) return VoteResult.Won;
  if (rejected > ids.length - q) return VoteResult.Lost;
  return VoteResult.Pending;
}

/** An election is won with a majority of each half, lost once either half can no longer give one. */
export function voteResult(m: Membership, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const a = tally(m.voters, votes);
  const b = tally(m.outgoing, votes);
  if (a === VoteResult.Lost || b === VoteResult.Lost) return VoteResult.Lost;
  if (a === VoteResult.Won && b === VoteResult.Won) return VoteResult.Won;
  return VoteResult.Pending;
}

/** The newest round `r` such that the members whose `roundOf` is at least `r` form a quorum. */
export function quorumRound(m: Membership, roundOf: (id: NodeId) => number): number {
  const rounds = [...new Set(members(m).map(roundOf))].sort((a, b) => b - a);
  for (const r of rounds) if (isQuorum(m, (id) => roundOf(id) >= r)) return r;
  return 0;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The payload of a Config entry. Configuration changes are rare: a readable encoding is fine. */
export function encodeMembership(m: Membership): Uint8Array {
  const { voters, outgoing, learners, addresses } = m;
  return encoder.encode(JSON.stringify({ voters, outgoing, learners, ...(addresses ? { addresses } : {}) }));
}

export function decodeMembership(data: Uint8Array): Membership {
  const v = JSON.parse(decoder.decode(data)) as Partial<Record<keyof Membership, unknown>>;
  const list = (x: unknown, what: string): NodeId[] => {
    if (!Array.isArray(x) || !x.every((id) => typeof id === 'string')) {
      throw new InvariantError(`membership: ${what} is not a list of node ids`);
    }
    return x as NodeId[];
  };
  const addresses = v.addresses;
  if (
    addresses !== undefined &&
    (typeof addresses !== 'object' ||
      addresses === null ||
      Array.isArray(addresses) ||
      !Object.values(addresses).every((a) => typeof a === 'string'))
  ) {
    throw new InvariantError('membership: addresses is not a map of node id to address');
  }
  return {
    voters: list(v.voters, 'voters'),
    outgoing: list(v.outgoing, 'outgoing'),
    learners: list(v.learners, 'learners'),
    ...(addresses !== undefined ? { addresses: addresses as Record<NodeId, string> } : {}),
  };
}

/**
 * The configurations in a log, oldest first (thesis §4.1: a server uses the latest configuration
 * in its log, committed or not). A truncated suffix takes its configurations with it.
 */
export class ConfigHistory {
  private configs: { index: Index; membership: Membership }[];

  constructor(base: Membership, baseIndex: Index) {
    this.configs = [{ index: baseIndex, membership: base }];
  }

  /** Notes every Config entry among `entries` (appended in index order). */
  add(entries: readonly Entry[], from = 0): void {
    for (let k = from; k < entries.length; k++) {
      const e = entries[k]!;
      if (e.kind === EntryKind.Config)
        this.configs.push({ index: e.index, membership: decodeMembership(e.data) });
    }
  }

  /** Entries from `at` on were removed. */
  truncate(at: Index): void {
    while (this.configs.length > 1 && this.configs[this.configs.length - 1]!.index >= at) this.configs.pop();
  }

  /** A snapshot replaced the log up to `at`. */
  reset(base: Membership, at: Index): void {
    this.configs = [{ index: at, membership: base }];
  }

  latest(): Membership {
    return this.configs[this.configs.length - 1]!.membership;
  }

  /** The index of the entry that holds the latest configuration (or the base's index). */
  latestIndex(): Index {
    return this.configs[this.configs.length - 1]!.index;
  }

  /** The configuration in force at `i` (for a snapshot taken there). */
  at(i: Index): Membership {
    for (let k = this.configs.length - 1; k >= 0; k--)
      if (this.configs[k]!.index <= i) return this.configs[k]!.membership;
    return this.configs[0]!.membership;
  }
}

/** The membership a snapshot carries (a snapshot without learners or outgoing voters has none). */
export function membershipOf(meta: SnapshotMeta): Membership {
  return {
    voters: [...meta.voters],
    outgoing: [...(meta.outgoing ?? [])],
    learners: [...(meta.learners ?? [])],
    ...(meta.addresses !== undefined ? { addresses: { ...meta.addresses } } : {}),
  };
}

/** The snapshot metadata for a snapshot at (`i`, `t`) whose configuration is `m`. */
export function snapshotMetaOf(i: Index, t: Term, m: Membership): SnapshotMeta {
  return {
    index: i,
    term: t,
    voters: m.voters,
    ...(m.learners.length > 0 ? { learners: m.learners } : {}),
    ...(m.outgoing.length > 0 ? { outgoing: m.outgoing } : {}),
    ...(m.addresses !== undefined ? { addresses: m.addresses } : {}),
  };
}
