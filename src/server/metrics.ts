import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { MembersView } from '../node/membership-change.js';
import type { NodeMetrics } from '../node/node-metrics.js';
import type { NodeStatus } from '../node/raft-node.js';
import { Role } from '../raft/types.js';
import type { Consistency, ReadMetrics } from './kv-service.js';
import { ROUTE_CLASSES } from './route-class.js';

/** What /metrics reads from the node when scraped (RaftNode has it). */
export interface ScrapedNode {
  status(): NodeStatus;
  members(): MembersView;
  pendingProposals(): number;
}

/** One peer's counters, as TcpTransport's stats() gives them. */
export interface ScrapedPeer {
  readonly connected: boolean;
  readonly queuedBytes: number;
  readonly framesSent: number;
  readonly bytesSent: number;
  readonly framesReceived: number;
  readonly dropped: number;
  readonly reconnects: number;
}

/** What /metrics reads from the peer transport when scraped (TcpTransport has it). */
export interface ScrapedTransport {
  stats(): {
    readonly peers: Readonly<Record<string, ScrapedPeer>>;
    readonly refused: number;
    readonly protocolErrors: number;
  };
}

export interface FlotillaMetricsOptions {
  /**
   * Also export prom-client's Node.js process metrics (CPU, memory, heap, event-loop lag, GC,
   * file descriptors) under their standard unprefixed names, `process_*` and `nodejs_*`, so that
   * stock Node.js dashboards work. Default true.
   */
  readonly processMetrics?: boolean;
}

const CONSISTENCIES: readonly Consistency[] = ['linearizable', 'lease', 'stale', 'log'];
/** Failure codes are a fixed set of stable codes; this only guards the label against a surprise. */
const FAILURE_CODES_MAX = 64;
const STATUS_MIN = 100;
const STATUS_SPAN = 500;
const FSYNC_BUCKETS_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];
const HTTP_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * A node's Prometheus metrics (docs/api.md, "Metrics"), served as text by GET /metrics.
 *
 * Gauges that mirror state are computed when scraped from the node's status(), members() and the
 * transport's stats(). Events are counted in plain numbers by the hooks below (NodeMetrics for the
 * node, ReadMetrics for the KV service, `walSynced` for the WAL, `httpRequest` for the server) and
 * handed to prom-client at scrape time; only the two histograms observe per event.
 */
export class FlotillaMetrics implements NodeMetrics, ReadMetrics {
  private readonly registry = new Registry();
  private node: ScrapedNode | undefined;
  private transport: ScrapedTransport | undefined;

  private proposalsCommitted = 0;
  private readonly proposalsFailed = new Map<string, number>();
  private leaderChanges = 0;
  private confChanges = 0;
  private readIndexRounds = 0;
  private readIndexReads = 0;
  private snapshotsTaken = 0;
  private snapshotsInstalled = 0;
  private walBytes = 0;
  private readonly reads: Record<Consistency, number> = { linearizable: 0, lease: 0, stale: 0, log: 0 };
  private readonly readsFailed: Record<Consistency, number> = { linearizable: 0, lease: 0, stale: 0, log: 0 };
  /** Requests by route class × status code (100..599). */
  private readonly httpRequests = new Float64Array(ROUTE_CLASSES.length * STATUS_SPAN);
  private readonly walFsync: Histogram;
  /** The request-duration histogram's series, one per route class, resolved once. */
  private readonly httpDuration: { observe(seconds: number): void }[];

  constructor(options: FlotillaMetricsOptions = {}) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.raftGauges();
    this.eventCounters();
    this.networkMetrics();
    new Counter({
      name: 'flotilla_http_requests_total',
      help: 'HTTP requests answered, by route class and status code.',
      labelNames: ['route', 'code'],
      registers,
      collect: collectHttpRequests(this.httpRequests),
    });
    this.walFsync = new Histogram({
      name: 'flotilla_wal_fsync_duration_seconds',
      help: 'How long making each WAL save durable took (one O_DSYNC write, or the fdatasync in fdatasync mode; one per Ready).',
      buckets: FSYNC_BUCKETS_SECONDS,
      registers,
    });
    const http = new Histogram({
      name: 'flotilla_http_request_duration_seconds',
      help: 'Time from a request arriving to its response being handed to the socket, by route class.',
      labelNames: ['route'],
      buckets: HTTP_BUCKETS_SECONDS,
      registers,
    });
    this.httpDuration = ROUTE_CLASSES.map((route) => http.labels(route));
  }

  /** Names the node (and its peer transport) whose state the gauges show; call once both exist. */
  watch(sources: { node: ScrapedNode; transport?: ScrapedTransport }): void {
    this.node = sources.node;
    this.transport = sources.transport;
  }

  /** The body and content type of GET /metrics: Prometheus text format 0.0.4. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  // ---- hooks: each is an increment (the histograms an observe) -------------------------------

  proposalCommitted(): void {
    this.proposalsCommitted++;
  }

  proposalFailed(code: string): void {
    const failed = this.proposalsFailed;
    const key = failed.has(code) || failed.size < FAILURE_CODES_MAX ? code : 'ERR_UNKNOWN';
    failed.set(key, (failed.get(key) ?? 0) + 1);
  }

  leaderChanged(): void {
    this.leaderChanges++;
  }

  confChangeApplied(): void {
    this.confChanges++;
  }

  readIndexConfirmed(requests: number): void {
    this.readIndexRounds++;
    this.readIndexReads += requests;
  }

  snapshotTaken(): void {
    this.snapshotsTaken++;
  }

  snapshotInstalled(): void {
    this.snapshotsInstalled++;
  }

  readServed(servedAs: Consistency): void {
    this.reads[servedAs]++;
  }

  readFailed(asked: Consistency): void {
    this.readsFailed[asked]++;
  }

  /** DurableStorage's `onWalSync`: one durable WAL write. */
  readonly walSynced = (fdatasyncMs: number, bytes: number): void => {
    this.walFsync.observe(fdatasyncMs / 1000);
    this.walBytes += bytes;
  };

  /** One answered HTTP request: `route` is an index into ROUTE_CLASSES (see routeClassOf). */
  httpRequest(route: number, status: number, seconds: number): void {
    const code = status < STATUS_MIN || status >= STATUS_MIN + STATUS_SPAN ? 500 : status;
    this.httpRequests[route * STATUS_SPAN + code - STATUS_MIN]!++;
    this.httpDuration[route]!.observe(seconds);
  }

  // ---- what is computed at scrape time -------------------------------------------------------

  private raftGauges(): void {
    const status = (f: (s: NodeStatus) => number) => (): number | undefined => {
      const node = this.node;
      return node === undefined ? undefined : f(node.status());
    };
    const members = (f: (m: MembersView) => number) => (): number | undefined => {
      const node = this.node;
      return node === undefined ? undefined : f(node.members());
    };
    this.gauge(
      'flotilla_raft_term',
      'The current Raft term.',
      status((s) => s.term),
    );
    this.gauge(
      'flotilla_raft_commit_index',
      'The highest log index known to be committed.',
      status((s) => s.commitIndex),
    );
    this.gauge(
      'flotilla_raft_applied_index',
      'The highest log index applied to the state machine.',
      status((s) => s.appliedIndex),
    );
    this.gauge(
      'flotilla_raft_is_leader',
      '1 if this node is the leader, else 0.',
      status((s) => (s.role === Role.Leader ? 1 : 0)),
    );
    this.gauge(
      'flotilla_raft_has_leader',
      '1 if this node knows a leader, else 0.',
      status((s) => (s.leader === undefined ? 0 : 1)),
    );
    this.gauge(
      'flotilla_raft_voters',
      'Voters in the latest configuration this node knows (both halves while joint).',
      members((m) => m.members.filter((x) => x.role === 'voter').length),
    );
    this.gauge(
      'flotilla_raft_learners',
      'Learners in the latest configuration this node knows.',
      members((m) => m.members.filter((x) => x.role === 'learner').length),
    );
    this.gauge(
      'flotilla_raft_joint_config',
      '1 while a joint configuration C(old,new) is in force (a voter change half done), else 0.',
      members((m) => (m.joint ? 1 : 0)),
    );
    this.gauge(
      'flotilla_proposals_pending',
      'Proposals accepted by this node (as leader) and not yet applied or failed.',
      () => this.node?.pendingProposals(),
    );
    const self = this;
    new Gauge({
      name: 'flotilla_raft_member_lag_entries',
      help: 'On the leader: log entries each member lacks (the leader\u2019s last index minus its match); absent elsewhere.',
      labelNames: ['member'],
      registers: [this.registry],
      collect() {
        this.reset();
        const view = self.node?.members();
        const me = view?.members.find((m) => m.id === self.node?.status().id);
        if (view === undefined || me?.match === undefined) return;
        for (const m of view.members) {
          if (m.id !== me.id && m.match !== undefined) this.set({ member: m.id }, me.match - m.match);
        }
      },
    });
    new Gauge({
      name: 'flotilla_node_info',
      help: 'Always 1; the id label names this node.',
      labelNames: ['id'],
      registers: [this.registry],
      collect() {
        this.reset();
        const node = self.node;
        if (node !== undefined) this.set({ id: node.status().id }, 1);
      },
    });
  }

  private eventCounters(): void {
    this.counter(
      'flotilla_raft_leader_changes_seen_total',
      'Times this node came to know a leader after knowing another one, or none.',
      () => this.leaderChanges,
    );
    this.counter(
      'flotilla_raft_conf_changes_applied_total',
      'Configuration entries applied (a change of voters applies two: C(old,new), then C(new)).',
      () => this.confChanges,
    );
    this.counter(
      'flotilla_raft_read_index_rounds_total',
      'ReadIndex rounds this node confirmed as leader (one heartbeat round each, shared by the reads in it).',
      () => this.readIndexRounds,
    );
    this.counter(
      'flotilla_raft_read_index_reads_total',
      'Reads (local and forwarded by followers) confirmed by those rounds.',
      () => this.readIndexReads,
    );
    this.counter(
      'flotilla_proposals_committed_total',
      'Proposals submitted to this node (by its clients) that committed and were applied.',
      () => this.proposalsCommitted,
    );
    this.counter(
      'flotilla_snapshots_taken_total',
      'Snapshots of the state machine this node wrote (each followed by log compaction).',
      () => this.snapshotsTaken,
    );
    this.counter(
      'flotilla_snapshots_installed_total',
      'Snapshots this node received from its leader and installed.',
      () => this.snapshotsInstalled,
    );
    this.counter(
      'flotilla_wal_write_bytes_total',
      'Bytes written to the WAL (and made durable).',
      () => this.walBytes,
    );
    const registers = [this.registry];
    const failed = this.proposalsFailed;
    new Counter({
      name: 'flotilla_proposals_failed_total',
      help: 'Proposals submitted to this node that failed, by error code (ERR_NO_LEADER, ERR_PROPOSAL_DROPPED, ...).',
      labelNames: ['code'],
      registers,
      collect() {
        this.reset();
        for (const [code, n] of failed) this.inc({ code }, n);
      },
    });
    const byConsistency = (name: string, help: string, counts: Record<Consistency, number>) =>
      new Counter({
        name,
        help,
        labelNames: ['consistency'],
        registers,
        collect() {
          this.reset();
          for (const consistency of CONSISTENCIES) this.inc({ consistency }, counts[consistency]);
        },
      });
    byConsistency(
      'flotilla_reads_total',
      'KV reads served, by the consistency they were served with (a lease read without a lease is served as linearizable).',
      this.reads,
    );
    byConsistency(
      'flotilla_reads_failed_total',
      'KV reads that could not be confirmed (no leader, or not in time) and were refused, by the consistency asked for.',
      this.readsFailed,
    );
  }

  private networkMetrics(): void {
    const stats = () => this.transport?.stats();
    this.counter(
      'flotilla_network_connections_refused_total',
      'Inbound peer connections refused at the handshake (wrong cluster id, unknown or removed node).',
      () => stats()?.refused,
    );
    this.counter(
      'flotilla_network_protocol_errors_total',
      'Inbound peer connections closed for a bad frame or a protocol violation.',
      () => stats()?.protocolErrors,
    );
    const registers = [this.registry];
    const peers = () => Object.entries(stats()?.peers ?? {});
    const peerGauge = (name: string, help: string, value: (p: ScrapedPeer) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['peer'],
        registers,
        collect() {
          this.reset();
          for (const [peer, p] of peers()) this.set({ peer }, value(p));
        },
      });
    const peerCounter = (name: string, help: string, value: (p: ScrapedPeer) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['peer'],
        registers,
        collect() {
          this.reset();
          for (const [peer, p] of peers()) this.inc({ peer }, value(p));
        },
      });
    peerGauge(
      'flotilla_network_peer_connected',
      '1 while this node\u2019s outbound connection to the peer is up, else 0.',
      (p) => (p.connected ? 1 : 0),
    );
    peerGauge(
      'flotilla_network_peer_send_queue_bytes',
      'Bytes waiting to be sent to the peer (the queue plus the socket buffer).',
      (p) => p.queuedBytes,
    );
    peerCounter(
      'flotilla_network_peer_sent_frames_total',
      'Frames sent to the peer: Raft messages, forwarded requests and snapshot chunks.',
      (p) => p.framesSent,
    );
    peerCounter(
      'flotilla_network_peer_sent_bytes_total',
      'Bytes of the frames sent to the peer on this node\u2019s connection (headers included).',
      (p) => p.bytesSent,
    );
    peerCounter(
      'flotilla_network_peer_received_frames_total',
      'Frames received from the peer (its messages, replies and acks).',
      (p) => p.framesReceived,
    );
    peerCounter(
      'flotilla_network_peer_dropped_messages_total',
      'Raft messages to the peer dropped: its send queue was full or its connection was lost (Raft retransmits).',
      (p) => p.dropped,
    );
    peerCounter(
      'flotilla_network_peer_reconnects_total',
      'Connections to the peer established again after one failed or was lost.',
      (p) => p.reconnects,
    );
  }

  /** A gauge read when scraped (0 while there is nothing to read it from). */
  private gauge(name: string, help: string, value: () => number | undefined): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(value() ?? 0);
      },
    });
  }

  /** A counter kept as a plain number elsewhere and copied in when scraped. */
  private counter(name: string, help: string, value: () => number | undefined): void {
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.reset();
        const v = value() ?? 0;
        if (v > 0) this.inc(v);
      },
    });
  }
}

function collectHttpRequests(counts: Float64Array) {
  return function (this: Counter<'route' | 'code'>): void {
    this.reset();
    for (let k = 0; k < counts.length; k++) {
      const n = counts[k]!;
      if (n === 0) continue;
      const route = ROUTE_CLASSES[Math.floor(k / STATUS_SPAN)]!;
      this.inc({ route, code: String(STATUS_MIN + (k % STATUS_SPAN)) }, n);
    }
  };
}
