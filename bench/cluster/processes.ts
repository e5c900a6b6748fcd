import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Every server process and temp dir this bench made and has not cleaned up yet. */
const live = new Set<ServerProcess>();
const dirs = new Set<string>();

/** A temp dir that `cleanUp()` removes unless it was removed before. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

/** Stops every server process the bench started (by PID) and removes its temp dirs: for signals. */
export async function cleanUp(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop()));
  for (const d of [...dirs]) removeDir(d);
}

/** A free TCP port on 127.0.0.1: the OS picks it and we release it at once. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Polls `cond` every 50 ms until it resolves true; throws after `timeoutMs`, naming `what`. */
export async function until(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A server process the bench started: the only kind it ever signals, and only by its PID. */
export class ServerProcess {
  private readonly child: ChildProcess;
  private tail = '';
  private exited = false;

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
  ) {
    this.child = spawn(command, [...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    live.add(this);
    this.child.stderr?.on('data', (b: Buffer) => {
      this.tail = (this.tail + b.toString()).slice(-8_000);
    });
    this.child.once('exit', () => {
      this.exited = true;
      live.delete(this);
    });
    this.child.once('error', (err) => {
      this.exited = true;
      live.delete(this);
      this.tail += `\nspawn failed: ${err.message}`;
    });
  }

  get pid(): number {
    const pid = this.child.pid;
    if (pid === undefined) throw new Error(`${this.name} did not start: ${this.tail}`);
    return pid;
  }

  get running(): boolean {
    return !this.exited && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last lines the process wrote to stderr, for error messages. */
  stderrTail(): string {
    return this.tail;
  }

  /**
   * SIGTERM (a Flotilla node then stops cleanly, so `--cpu-prof` profiles get written), then
   * SIGKILL if it has not exited within `graceMs`.
   */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), graceMs).unref());
    if ((await Promise.race([exited, timer])) === 'late' && this.running) {
      this.child.kill('SIGKILL');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2_000).unref())]);
    }
  }
}

/** GETs or POSTs `url` with a short timeout; undefined on any failure (the caller is polling). */
export async function tryJson(url: string, body?: string): Promise<Record<string, unknown> | undefined> {
  try {
    const r = await fetch(url, {
      method: body === undefined ? 'GET' : 'POST',
      ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }),
      signal: AbortSignal.timeout(1_000),
    });
    if (!r.ok) {
      await r.arrayBuffer();
      return undefined;
    }
    return (await r.json()) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * Waits until every member answers `isReady` and one of them `isLeader`; fails at once when a
 * server process the bench started has exited. Returns the leader's endpoint.
 */
export async function waitForLeader<E extends { url: string }>(
  endpoints: readonly E[],
  procs: readonly ServerProcess[],
  probe: { isReady: (e: E) => Promise<boolean>; isLeader: (e: E) => Promise<boolean>; what: string },
): Promise<E> {
  let leader: E | undefined;
  await until(
    async () => {
      const dead = procs.find((p) => !p.running);
      if (dead !== undefined) throw new Error(`${dead.name} exited:\n${dead.stderrTail()}`);
      const ready = await Promise.all(endpoints.map(probe.isReady));
      if (!ready.every(Boolean)) return false;
      for (const e of endpoints) if (await probe.isLeader(e)) leader = e;
      return leader !== undefined;
    },
    30_000,
    probe.what,
  );
  return leader!;
}
