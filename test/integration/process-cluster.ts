import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** A free TCP port on 127.0.0.1 (the OS picks it; we release it at once). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Waits until `cond()` resolves true, polling; throws after `timeoutMs` with `what`. */
export async function until(
  cond: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface NodeProc {
  readonly id: string;
  readonly clientUrl: string;
  /** Its --peer-addr port (move() changes it for the next start). */
  peerPort: number;
  /** Started with --join URL (a node added to the running cluster) instead of --initial-cluster. */
  join?: string;
  child: ChildProcess | undefined;
  stderr: string;
}

/**
 * N `flotilla serve` processes on loopback, each with its own data folder in a temp dir, with
 * short timeouts. Only processes it started are ever signalled, by their PID.
 */
export class ProcessCluster {
  readonly nodes: NodeProc[] = [];
  readonly root = mkdtempSync(join(tmpdir(), 'flotilla-proc-'));
  private initialCluster = '';

  static async create(
    n = 3,
    clusterId = 'itest',
    extraArgs: readonly string[] = [],
  ): Promise<ProcessCluster> {
    const c = new ProcessCluster(clusterId, extraArgs);
    for (let k = 1; k <= n; k++) {
      const client = await freePort();
      const peer = await freePort();
      c.nodes.push({
        id: String(k),
        clientUrl: `http://127.0.0.1:${client}`,
        peerPort: peer,
        child: undefined,
        stderr: '',
      });
    }
    c.initialCluster = c.nodes.map((p) => `${p.id}=127.0.0.1:${p.peerPort}`).join(',');
    for (const p of c.nodes) c.start(p.id);
    return c;
  }

  private constructor(
    readonly clusterId: string,
    private readonly extraArgs: readonly string[],
  ) {}

  node(id: string): NodeProc {
    return this.nodes.find((p) => p.id === id)!;
  }

  /** Starts a new node, with an empty data folder, that joins the cluster through `joinUrl`. */
  async join(id: string, joinUrl: string): Promise<NodeProc> {
    const p: NodeProc = {
      id,
      clientUrl: `http://127.0.0.1:${await freePort()}`,
      peerPort: await freePort(),
      join: joinUrl,
      child: undefined,
      stderr: '',
    };
    this.nodes.push(p);
    this.start(id);
    return p;
  }

  start(id: string): void {
    const p = this.node(id);
    const clientPort = new URL(p.clientUrl).port;
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        MAIN,
        'serve',
        '--id',
        id,
        '--cluster-id',
        this.clusterId,
        '--data-dir',
        join(this.root, id),
        '--client-addr',
        `127.0.0.1:${clientPort}`,
        '--peer-addr',
        `127.0.0.1:${p.peerPort}`,
        ...(p.join === undefined ? ['--initial-cluster', this.initialCluster] : ['--join', p.join]),
        '--election-timeout-ms',
        '400',
        '--heartbeat-interval-ms',
        '50',
        '--snapshot-entries',
        '300',
        ...this.extraArgs,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    p.stderr = '';
    child.stderr?.on('data', (b: Buffer) => {
      p.stderr = (p.stderr + b.toString()).slice(-20_000);
    });
    p.child = child;
  }

  /** SIGKILL: no chance to flush anything that was not already fsynced. */
  kill9(id: string): Promise<void> {
    return this.end(id, 'SIGKILL');
  }

  /** The next start of `id` listens for peers on `peerPort` (the member moved). */
  move(id: string, peerPort: number): void {
    this.node(id).peerPort = peerPort;
  }

  /** SIGTERM: the node shuts down in order (a leader hands over first); resolves once it exited. */
  terminate(id: string): Promise<void> {
    return this.end(id, 'SIGTERM');
  }

  /** Signals the process we started for `id`, by its PID, and resolves once it has exited. */
  private end(id: string, signal: NodeJS.Signals): Promise<void> {
    const p = this.node(id);
    const child = p.child;
    p.child = undefined;
    if (child === undefined || child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }

  /** SIGSTOP / SIGCONT: the process freezes with its sockets open, then resumes. */
  pause(id: string): void {
    this.node(id).child?.kill('SIGSTOP');
  }

  resume(id: string): void {
    this.node(id).child?.kill('SIGCONT');
  }

  async status(id: string): Promise<Record<string, unknown> | undefined> {
    try {
      const r = await fetch(`${this.node(id).clientUrl}/v1/status`, { signal: AbortSignal.timeout(1000) });
      return (await r.json()) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }

  /** The id of a running node that reports itself leader. */
  async leader(): Promise<string | undefined> {
    for (const p of this.nodes) {
      if (p.child === undefined) continue;
      const s = await this.status(p.id);
      if (s?.role === 'leader') return p.id;
    }
    return undefined;
  }

  async waitLeader(timeoutMs = 15_000, except?: string): Promise<string> {
    let found: string | undefined;
    await until(
      async () => {
        found = await this.leader();
        return found !== undefined && found !== except;
      },
      timeoutMs,
      `a leader${except === undefined ? '' : ` other than ${except}`}`,
    );
    return found!;
  }

  endpoints(): string[] {
    return this.nodes.filter((p) => p.child !== undefined).map((p) => p.clientUrl);
  }

  async stop(): Promise<void> {
    for (const p of this.nodes) await this.kill9(p.id);
    rmSync(this.root, { recursive: true, force: true });
  }
}
