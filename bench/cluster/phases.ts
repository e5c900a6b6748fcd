import { type HttpClient, runLoad, writeEach } from './load.js';
import { opsPerSecond, type PhaseOutcome } from './report.js';
import { machineBusySeconds } from './stats.js';
import type { Endpoint, ReadMode, SystemUnderTest } from './system.js';

/** One measured phase: writes, or reads with a consistency passed as `?consistency=`. */
export interface PhaseSpec {
  readonly title: string;
  readonly clients: number;
  /** Undefined for a write phase. */
  readonly read: ReadMode | undefined;
}

/** Writes at N clients, writes at 1 client, then one read phase per mode (reads find existing keys). */
export function phasesOf(clients: number, reads: readonly ReadMode[]): PhaseSpec[] {
  return [
    { title: `writes, ${clients} clients`, clients, read: undefined },
    { title: 'writes, 1 client', clients: 1, read: undefined },
    ...reads.map((mode) => ({ title: `${mode} reads, ${clients} clients`, clients, read: mode })),
  ];
}

export interface PhaseOptions {
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly keys: number;
  /** Client i talks to member i mod N instead of the leader. */
  readonly spread: boolean;
  readonly quietWaitMs: number;
  readonly rounds: number;
}

/** A system under test and the keys the bench has written to it. */
class SystemRun {
  private readonly written: Uint8Array;
  private filled = false;
  readonly endpointOf: (client: number) => Endpoint;

  constructor(
    readonly sys: SystemUnderTest,
    private readonly http: HttpClient,
    private readonly o: PhaseOptions,
  ) {
    this.written = new Uint8Array(o.keys);
    this.endpointOf = (c) => (o.spread ? sys.endpoints[c % sys.endpoints.length]! : sys.leader);
  }

  async run(p: PhaseSpec): Promise<PhaseOutcome> {
    const { sys, o } = this;
    const mode = p.read;
    let note: string | undefined;
    if (mode !== undefined) {
      if (!this.filled) await this.fillMissing(p.clients);
      const probe = await sys.probeRead(mode);
      if (!probe.ok) return { ran: false, why: probe.why };
      if (probe.servedAs !== mode) note = `served as ${probe.servedAs}`;
    }
    if (o.quietWaitMs > 0) await waitQuiet(o.quietWaitMs);
    const written = this.written;
    const result = await runLoad(this.http, {
      clients: p.clients,
      warmupMs: o.warmupMs,
      durationMs: o.durationMs,
      keys: o.keys,
      endpointOf: this.endpointOf,
      request: mode === undefined ? (k) => sys.write(k) : (k) => sys.read(k, mode)!,
      ok: (r) => r.status === 200 && (mode === undefined || sys.readFound(r.body)),
      onOk:
        mode === undefined
          ? (k) => {
              written[k] = 1;
            }
          : undefined,
      pids: sys.pids,
    });
    return { ran: true, result, note };
  }

  /** Writes every key the write phases missed (not measured), so that every read finds its key. */
  private async fillMissing(clients: number): Promise<void> {
    this.filled = true;
    const missing: number[] = [];
    for (let k = 0; k < this.written.length; k++) if (this.written[k] === 0) missing.push(k);
    const failed = await writeEach(this.http, missing, {
      clients,
      endpointOf: this.endpointOf,
      request: (k) => this.sys.write(k),
      ok: (r) => r.status === 200,
      deadlineMs: 120_000,
    });
    if (failed > 0) {
      console.log(
        `  ${this.sys.name}: ${failed} of ${missing.length} keys could not be written before the reads`,
      );
    }
  }
}

/**
 * Runs every phase against every system. The systems take turns phase by phase, `rounds` times,
 * so load from the rest of a shared machine that comes and goes falls on them alike; each phase
 * keeps the round with the median throughput and notes the spread.
 */
export async function runPhases(
  systems: readonly SystemUnderTest[],
  http: HttpClient,
  phases: readonly PhaseSpec[],
  o: PhaseOptions,
): Promise<Map<string, PhaseOutcome[]>> {
  const runs = systems.map((s) => new SystemRun(s, http, o));
  const out = new Map<string, PhaseOutcome[]>(systems.map((s) => [s.name, []]));
  for (const p of phases) {
    const tries = new Map<string, PhaseOutcome[]>(systems.map((s) => [s.name, []]));
    for (let round = 0; round < o.rounds; round++) {
      for (const r of runs) {
        const outcome = await r.run(p);
        tries.get(r.sys.name)!.push(outcome);
        console.log(
          `  ${r.sys.name}: ${p.title}${o.rounds > 1 ? ` (round ${round + 1})` : ''}: ${brief(outcome)}`,
        );
      }
    }
    for (const s of systems) out.get(s.name)!.push(median(tries.get(s.name)!));
  }
  return out;
}

function median(tries: readonly PhaseOutcome[]): PhaseOutcome {
  const ran = tries.filter((t) => t.ran);
  if (ran.length === 0) return tries[0]!;
  const sorted = [...ran].sort((a, b) => opsPerSecond(a.result) - opsPerSecond(b.result));
  const mid = sorted[(sorted.length - 1) >> 1]!;
  if (sorted.length === 1) return mid;
  const rate = (t: (typeof sorted)[number]) => Math.round(opsPerSecond(t.result)).toLocaleString('en-US');
  const spread = `median of ${sorted.length}: ${rate(sorted[0]!)}–${rate(sorted[sorted.length - 1]!)}/s`;
  return { ...mid, note: mid.note === undefined ? spread : `${mid.note}; ${spread}` };
}

function brief(o: PhaseOutcome): string {
  if (!o.ran) return `not run (${o.why})`;
  const r = o.result;
  return (
    `${Math.round(opsPerSecond(r)).toLocaleString('en-US')}/s, p99 ${r.latency.p99.toFixed(2)} ms` +
    (r.errors > 0 ? `, ${r.errors} errors (first: ${r.firstError})` : '')
  );
}

/**
 * Waits, up to `ms`, until the machine is quiet: under 0.3 busy cores over half a second while
 * the servers idle. Says so when it gives up; the table's `others` column shows what remained.
 */
async function waitQuiet(ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  for (;;) {
    const b0 = machineBusySeconds();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 500));
    const b1 = machineBusySeconds();
    if (b0 === undefined || b1 === undefined) return;
    if ((b1 - b0) / ((performance.now() - t0) / 1000) < 0.3) return;
    if (performance.now() > deadline) {
      console.log(`  the machine did not go quiet within ${ms / 1000} s; measuring anyway`);
      return;
    }
  }
}
