import { ConfigError } from './errors.js';
import type { LogStorage } from './storage.js';
import type { Index, NodeId, Rng } from './types.js';

/** Something happened inside the core that a timeline wants to show. Off unless `trace` is set. */
export type TraceEvent =
  | { readonly type: 'role'; readonly node: NodeId; readonly role: string; readonly term: number }
  | { readonly type: 'truncate'; readonly node: NodeId; readonly from: number; readonly terms: number[] }
  | { readonly type: 'commit'; readonly node: NodeId; readonly commit: number }
  | { readonly type: 'restore'; readonly node: NodeId; readonly index: number; readonly term: number }
  | { readonly type: 'step-down'; readonly node: NodeId; readonly term: number; readonly reason: string };

/** How a core is set up. Durations are in ticks; the host decides how long a tick is. */
export interface RaftConfig {
  readonly id: NodeId;
  /**
   * The cluster's voters when it is first started, this node included; ignored once the log or a
   * snapshot holds a configuration. Empty for a node joining a running cluster: it stays a silent
   * follower until the leader's log or snapshot tells it the configuration.
   */
  readonly voters: readonly NodeId[];
  /** The start-up voters' addresses, carried into the first Config entry (see Membership.addresses). */
  readonly addresses?: Readonly<Record<NodeId, string>>;
  readonly storage: LogStorage;
  readonly rng: Rng;
  /** Base election timeout; each timeout is drawn from [electionTicks, 2·electionTicks) (§5.2). */
  readonly electionTicks?: number;
  /** A leader sends heartbeats this often; must be well below electionTicks. */
  readonly heartbeatTicks?: number;
  /** Run a PreVote round before raising the term (thesis §9.6). Default on. */
  readonly preVote?: boolean;
  /** A leader steps down when it has not heard from a majority for an election timeout (§6.2). Default on. */
  readonly checkQuorum?: boolean;
  /**
   * The host serves lease reads (thesis §6.4.1). Needs CheckQuorum; makes a node that just
   * started refuse votes for one election timeout, as it may have promised not to vote before it
   * went down. Default off.
   */
  readonly leaseReads?: boolean;
  /** AppendEntries messages in flight per follower in Replicate state. */
  readonly inflightMax?: number;
  /** Payload bytes per AppendEntries message (at least one entry is always sent). */
  readonly entryBytesMax?: number;
  /** Payload bytes of committed entries handed out per Ready. */
  readonly committedBytesMax?: number;
  /** The last index the state machine had applied before this start. */
  readonly applied?: Index;
  /** Receives trace events; leave unset in production. */
  readonly trace?: (event: TraceEvent) => void;
}

export type ResolvedConfig = Required<Omit<RaftConfig, 'trace' | 'applied' | 'addresses'>> &
  Pick<RaftConfig, 'trace' | 'applied' | 'addresses'>;

/** Fills defaults and refuses values the core cannot run with. */
export function resolveConfig(c: RaftConfig): ResolvedConfig {
  const r: ResolvedConfig = {
    electionTicks: 10,
    heartbeatTicks: 1,
    preVote: true,
    checkQuorum: true,
    leaseReads: false,
    inflightMax: 256,
    entryBytesMax: 1 << 20,
    committedBytesMax: 16 << 20,
    // An option given as undefined keeps its default.
    ...(Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)) as RaftConfig),
  };
  if (r.id === '') throw new ConfigError('id must be a non-empty string');
  if (r.voters.length > 0 && !r.voters.includes(r.id))
    throw new ConfigError(`voters must include this node's id "${r.id}" (or be empty to join a cluster)`);
  if (new Set(r.voters).size !== r.voters.length) throw new ConfigError('voters must not repeat an id');
  if (r.leaseReads && !r.checkQuorum)
    throw new ConfigError('leaseReads needs checkQuorum: leases rest on it');
  positive('heartbeatTicks', r.heartbeatTicks);
  positive('inflightMax', r.inflightMax);
  positive('entryBytesMax', r.entryBytesMax);
  positive('committedBytesMax', r.committedBytesMax);
  if (!Number.isInteger(r.electionTicks) || r.electionTicks <= r.heartbeatTicks) {
    throw new ConfigError(
      `electionTicks (${r.electionTicks}) must be an integer above heartbeatTicks (${r.heartbeatTicks})`,
    );
  }
  return r;
}

function positive(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new ConfigError(`${name} must be a positive integer, got ${v}`);
}
