import { type ChildProcess, spawn } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Prng } from '../../src/sim/prng.js';
import type { FaultLog } from './fault-log.js';
import { type CutMode, HEALTHY, type LinkFaults, LinkProxy } from './link-proxy.js';
import { PeerIngress } from './peer-ingress.js';
import { stablePorts } from './ports.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** How the cluster is started. */
export interface ClusterOptions {
  readonly nodes: number;
  /** Data folders go to `root/data/N`, node logs to `root/nodes/node-N.log`. */
  readonly root: string;
  readonly clusterId: string;
  readonly electionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly snapshotEntries: number;
  /** Start the nodes with `--lease-reads`, so that `consistency=lease` reads use leader leases. */
  readonly leaseReads: boolean;
  readonly rng: Prng;
  readonly faults: FaultLog;
}

/** One `flotilla serve` process and what the harness knows about it. */
export interface NemesisNode {
  readonly id: string;
  readonly clientUrl: string;
  readonly clientPort: number;
  /** Where the process really listens for peers (its ingress forwards there). */
  readonly peerPort: number;
  /** Its advertised peer address, `127.0.0.1:PORT`: its ingress, which every peer dials. */
  readonly peerAddr: string;
  readonly dataDir: string;
  readonly logPath: string;
  child: ChildProcess | undefined;
  paused: boolean;
  starts: number;
  /**
   * Client URLs it was started with `--join` (since it last came back with an empty data folder);
   * undefined: a member of the initial cluster, started with `--initial-cluster`.
   */
  joinVia: readonly string[] | undefined;
  /** How many times its data folder was wiped. */
  wipes: number;
}

/** A node that exited without the harness killing it: a crash, which is a finding. */
export interface Crash {
  readonly id: string;
  readonly pid: number | undefined;
  readonly code: number | null;
  readonly signal: string | null;
  readonly time: number;
  readonly logTail: string;
}

/** What `/v1/status` answers. */
export interface NodeStatusJson {
  readonly id: number;
  readonly role: string;
  readonly term: number;
  readonly leader: number | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
}

/**
 * N real `flotilla serve` processes on loopback whose peer traffic all goes through a
 * {@link LinkProxy} per ordered pair. Every node advertises one peer address, its
 * {@link PeerIngress}: that is what `--initial-cluster`, a join's POST and so every configuration
 * entry carry. The ingress tells diallers apart by their handshake and hands each connection to
 * the proxy of its link; the process itself listens on another port (`--peer-addr`, while
 * `--advertise-peer-addr` names the ingress).
 * Only processes this class started are ever signalled, and only by their PID.
 */
export class NemesisCluster {
  readonly nodes: NemesisNode[] = [];
  readonly crashes: Crash[] = [];
  private readonly links = new Map<string, LinkProxy>();
  private readonly ingresses: PeerIngress[] = [];
  private readonly expectedExits = new WeakSet<ChildProcess>();

  private constructor(readonly opts: ClusterOptions) {}

  static async create(opts: ClusterOptions): Promise<NemesisCluster> {
    const c = new NemesisCluster(opts);
    const ports = await stablePorts(2 * opts.nodes);
    mkdirSync(join(opts.root, 'nodes'), { recursive: true });
    for (let k = 0; k < opts.nodes; k++) {
      const id = String(k + 1);
      const ingress = new PeerIngress(id, (from) => c.links.get(linkName(from, id)));
      await ingress.start();
      c.ingresses.push(ingress);
      c.nodes.push({
        id,
        clientPort: ports[2 * k]!,
        peerPort: ports[2 * k + 1]!,
        peerAddr: `127.0.0.1:${ingress.port}`,
        clientUrl: `http://127.0.0.1:${ports[2 * k]!}`,
        dataDir: join(opts.root, 'data', id),
        logPath: join(opts.root, 'nodes', `node-${id}.log`),
        child: undefined,
        paused: false,
        starts: 0,
        joinVia: undefined,
        wipes: 0,
      });
    }
    for (const from of c.nodes) {
      for (const to of c.nodes) {
        if (from === to) continue;
        const rng = opts.rng.fork();
        c.links.set(
          linkName(from.id, to.id),
          new LinkProxy(from.id, to.id, to.peerPort, () => rng.nextFloat()),
        );
      }
    }
    for (const n of c.nodes) c.start(n.id);
    return c;
  }

  get ids(): string[] {
    return this.nodes.map((n) => n.id);
  }

  node(id: string): NemesisNode {
    const n = this.nodes.find((p) => p.id === id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  link(from: string, to: string): LinkProxy {
    const l = this.links.get(linkName(from, to));
    if (l === undefined) throw new Error(`no link ${from}→${to}`);
    return l;
  }

  allLinks(): LinkProxy[] {
    return [...this.links.values()];
  }

  isRunning(id: string): boolean {
    return this.node(id).child !== undefined;
  }

  // ---- processes ----------------------------------------------------------------------------

  /** Spawns the node (again) from its data folder; its output is appended to its log file. */
  start(id: string): void {
    const n = this.node(id);
    if (n.child !== undefined) return;
    n.starts++;
    const how = n.joinVia === undefined ? '' : ` (--join ${n.joinVia.join(',')})`;
    appendFileSync(n.logPath, `--- nemesis: start #${n.starts} of node ${id}${how} ---\n`);
    const fd = openSync(n.logPath, 'a');
    const args = ['--import', 'tsx', MAIN, 'serve', ...this.serveArgs(n)];
    const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    n.child = child;
    n.paused = false;
    child.once('exit', (code, signal) => {
      if (n.child === child) {
        n.child = undefined;
        n.paused = false;
      }
      if (this.expectedExits.has(child)) return;
      this.crashes.push({
        id,
        pid: child.pid,
        code,
        signal,
        time: performance.now(),
        logTail: this.logTail(id),
      });
      this.opts.faults.add(
        'crash',
        `node ${id} (pid ${child.pid}) exited by itself: code ${code} ${signal ?? ''}`,
      );
    });
    this.opts.faults.add('start', `node ${id} (pid ${child.pid})${how}`);
  }

  /**
   * The flags of `flotilla serve`. A node that came back with an empty data folder keeps its
   * `--join` flags for every later start, as docs/membership.md says to restart it: once its
   * folder holds the configuration, the join is not asked again.
   */
  private serveArgs(n: NemesisNode): string[] {
    const o = this.opts;
    const members =
      n.joinVia === undefined
        ? ['--initial-cluster', this.nodes.map((p) => `${p.id}=${p.peerAddr}`).join(',')]
        : ['--join', n.joinVia.join(',')];
    return [
      ...['--id', n.id, '--cluster-id', o.clusterId, '--data-dir', n.dataDir],
      ...['--client-addr', `127.0.0.1:${n.clientPort}`, '--peer-addr', `127.0.0.1:${n.peerPort}`],
      ...['--advertise-peer-addr', n.peerAddr],
      ...members,
      ...['--election-timeout-ms', String(o.electionTimeoutMs)],
      ...['--heartbeat-interval-ms', String(o.heartbeatIntervalMs)],
      ...['--snapshot-entries', String(o.snapshotEntries)],
      ...(o.leaseReads ? ['--lease-reads'] : []),
    ];
  }

  /**
   * Moves a stopped node's data folder aside (kept as `N.wiped-K` for evidence; removed with the
   * rest when the run passes): its next start finds an empty folder. Only for a node removed from
   * the configuration — a voter that forgets its log breaks Raft's assumptions.
   */
  wipe(id: string): void {
    const n = this.node(id);
    if (n.child !== undefined) throw new Error(`node ${id} still runs (pid ${n.child.pid}): kill it first`);
    n.wipes++;
    if (existsSync(n.dataDir)) renameSync(n.dataDir, `${n.dataDir}.wiped-${n.wipes}`);
    this.opts.faults.add('wipe', `node ${id}'s data folder`);
  }

  /** Starts a stopped node with an empty data folder as a new member: `--join` through `via`. */
  join(id: string, via: readonly string[]): void {
    const n = this.node(id);
    if (existsSync(n.dataDir)) throw new Error(`node ${id} has a data folder: wipe it before joining`);
    n.joinVia = [...via];
    this.start(id);
  }

  /** SIGKILL by PID: nothing that was not fsynced survives. Resolves once the process is gone. */
  kill9(id: string): Promise<void> {
    const n = this.node(id);
    const child = n.child;
    if (child === undefined) return Promise.resolve();
    this.expectedExits.add(child);
    this.opts.faults.add('kill', `node ${id} (pid ${child.pid})${n.paused ? ' while paused' : ''}`);
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /** SIGSTOP: the process freezes with its sockets open; its timers fire late when resumed. */
  pause(id: string): void {
    const n = this.node(id);
    if (n.child === undefined || n.paused) return;
    n.child.kill('SIGSTOP');
    n.paused = true;
    this.opts.faults.add('pause', `node ${id} (SIGSTOP pid ${n.child.pid})`);
  }

  resume(id: string): void {
    const n = this.node(id);
    if (n.child === undefined || !n.paused) return;
    n.child.kill('SIGCONT');
    n.paused = false;
    this.opts.faults.add('resume', `node ${id} (SIGCONT pid ${n.child.pid})`);
  }

  /** The last `chars` characters of a node's log. */
  logTail(id: string, chars = 4000): string {
    const text = this.logText(id);
    return text.slice(-chars);
  }

  logText(id: string, fromByte = 0): string {
    try {
      return readFileSync(this.node(id).logPath).subarray(fromByte).toString('utf8');
    } catch {
      return '';
    }
  }

  logSize(id: string): number {
    try {
      return statSync(this.node(id).logPath).size;
    } catch {
      return 0;
    }
  }

  // ---- links --------------------------------------------------------------------------------

  /**
   * Makes `groups` the partition: links inside a group are up, links between groups are cut.
   * Nodes not listed form one more group. Links that come back up deliver held bytes if `flush`.
   */
  partition(groups: readonly (readonly string[])[], mode: CutMode, flush: boolean): void {
    const groupOf = new Map<string, number>();
    groups.forEach((g, k) => {
      for (const id of g) groupOf.set(id, k);
    });
    this.shape((a, b) => (groupOf.get(a) ?? -1) === (groupOf.get(b) ?? -1), mode, flush);
    this.opts.faults.add('partition', `${groups.map((g) => `{${g.join(',')}}`).join(' | ')} (${mode})`);
  }

  /**
   * Sets every link at once: `connected(a, b)` says whether a→b is up. Links already in the
   * wanted state are left alone.
   */
  shape(connected: (from: string, to: string) => boolean, mode: CutMode, flush: boolean): void {
    for (const link of this.links.values()) {
      const want = connected(link.from, link.to);
      if (want && !link.isUp) link.heal(flush);
      else if (!want && link.mode !== mode) link.cut(mode);
    }
  }

  /** Every link up and healthy. */
  healAll(flush: boolean): void {
    for (const link of this.links.values()) {
      if (!link.isUp) link.heal(flush);
      link.setFaults(HEALTHY);
    }
    this.opts.faults.add('heal', `all links up${flush ? ' (held bytes delivered)' : ''}`);
  }

  setLinkFaults(from: string, to: string, faults: LinkFaults): void {
    this.link(from, to).setFaults(faults);
  }

  /** Cut links, e.g. `1→2 1→3 (blackhole)`, for logs. */
  describeCuts(): string {
    const cut = [...this.links.values()].filter((l) => !l.isUp);
    return cut.length === 0 ? 'none' : cut.map((l) => `${l.from}→${l.to} (${l.mode})`).join(' ');
  }

  /**
   * Asks node `from` to hand leadership to `to` (or to the most up-to-date other voter):
   * `POST /v1/leader/transfer`. Resolves with how it ended, e.g. `200 leader 3` or `504 ERR_TIMEOUT`.
   */
  async transferLeadership(from: string, to: string | undefined): Promise<string> {
    this.opts.faults.add(
      'transfer',
      `node ${from} hands leadership to ${to === undefined ? 'any' : `node ${to}`}`,
    );
    const n = this.node(from);
    try {
      const r = await fetch(`${n.clientUrl}/v1/leader/transfer`, {
        method: 'POST',
        body: JSON.stringify(to === undefined ? {} : { to: Number(to) }),
        signal: AbortSignal.timeout(5000),
      });
      const body = (await r.json()) as { leader?: number; code?: string };
      return r.ok ? `${r.status} leader ${body.leader}` : `${r.status} ${body.code ?? ''}`;
    } catch (err) {
      return `no answer (${(err as Error).name})`;
    }
  }

  // ---- observation --------------------------------------------------------------------------

  /** A node's /v1/status, or undefined when it does not answer within `timeoutMs`. */
  async status(id: string, timeoutMs = 500): Promise<NodeStatusJson | undefined> {
    const n = this.node(id);
    if (n.child === undefined || n.paused) return undefined;
    try {
      const r = await fetch(`${n.clientUrl}/v1/status`, { signal: AbortSignal.timeout(timeoutMs) });
      if (!r.ok) return undefined;
      return (await r.json()) as NodeStatusJson;
    } catch {
      return undefined;
    }
  }

  async statuses(): Promise<Map<string, NodeStatusJson>> {
    const all = await Promise.all(this.ids.map(async (id) => [id, await this.status(id)] as const));
    const out = new Map<string, NodeStatusJson>();
    for (const [id, s] of all) if (s !== undefined) out.set(id, s);
    return out;
  }

  /**
   * The leader a majority of the answering nodes follow, with its term; undefined when there is
   * none (an old leader cut off in a minority may still call itself leader: it is not this one).
   */
  async leader(): Promise<{ id: string; term: number } | undefined> {
    const all = await this.statuses();
    for (const [id, s] of all) {
      if (s.role !== 'leader') continue;
      const followers = [...all.values()].filter((o) => o.leader === s.id && o.term === s.term).length;
      if (followers > this.nodes.length / 2) return { id, term: s.term };
    }
    return undefined;
  }

  /** Waits up to `timeoutMs` for {@link leader}. */
  async waitLeader(timeoutMs: number): Promise<{ id: string; term: number } | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const l = await this.leader();
      if (l !== undefined || performance.now() > deadline) return l;
      await sleep(50);
    }
  }

  // ---- teardown -----------------------------------------------------------------------------

  /** Kills every node (SIGKILL by PID) and closes every proxy. */
  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map((n) => {
        const child = n.child;
        if (child === undefined) return Promise.resolve();
        this.expectedExits.add(child);
        return new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        });
      }),
    );
    await Promise.all([...this.links.values()].map((l) => l.stop()));
    await Promise.all(this.ingresses.map((i) => i.stop()));
  }

  /** Synchronous last resort (process exit): SIGKILL every node this cluster started. */
  killAllNow(): void {
    for (const n of this.nodes) {
      if (n.child === undefined) continue;
      this.expectedExits.add(n.child);
      n.child.kill('SIGKILL');
    }
  }
}

function linkName(from: string, to: string): string {
  return `${from}>${to}`;
}

/** A promise that resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}
