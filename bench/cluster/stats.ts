import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * Latencies of one phase in milliseconds, recorded into a Float64Array that doubles when full
 * (up to `capacityMax`, then `full` is set and the phase stops early) and sorted once at the end.
 */
export class LatencyRecorder {
  private samples = new Float64Array(1 << 16);
  private n = 0;

  constructor(private readonly capacityMax = 1 << 23) {}

  get count(): number {
    return this.n;
  }

  get full(): boolean {
    return this.n >= this.capacityMax;
  }

  add(ms: number): void {
    if (this.n === this.samples.length) {
      if (this.n >= this.capacityMax) return;
      const grown = new Float64Array(Math.min(this.capacityMax, this.samples.length * 2));
      grown.set(this.samples);
      this.samples = grown;
    }
    this.samples[this.n++] = ms;
  }

  /** Sorts the samples (once) and reads percentiles off them. */
  summary(): LatencySummary {
    const s = this.samples.subarray(0, this.n).sort();
    const at = (p: number) => (s.length === 0 ? Number.NaN : s[Math.max(0, Math.ceil(p * s.length) - 1)]!);
    return { count: s.length, p50: at(0.5), p99: at(0.99), max: at(1) };
  }
}

export interface LatencySummary {
  readonly count: number;
  /** Milliseconds, nearest-rank percentiles. */
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

let clockTicksPerSecond: number | undefined;

/** USER_HZ, the unit of utime/stime in /proc/<pid>/stat (100 on every common Linux). */
function ticksPerSecond(): number {
  if (clockTicksPerSecond === undefined) {
    try {
      clockTicksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicksPerSecond = 100;
    }
  }
  return clockTicksPerSecond;
}

/**
 * CPU seconds (user + system, all threads) a process has used so far: fields 14 and 15 of
 * /proc/<pid>/stat. The command name (field 2) may hold spaces and parentheses, so the fields are
 * counted from the last ')'. Undefined when the process is gone or /proc is not there.
 */
export function processCpuSeconds(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so field k is fields[k - 3].
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return (utime + stime) / ticksPerSecond();
}

/** The summed CPU seconds of `pids`, or undefined when any of them cannot be read. */
export function cpuSecondsOf(pids: readonly number[]): number | undefined {
  let sum = 0;
  for (const pid of pids) {
    const s = processCpuSeconds(pid);
    if (s === undefined) return undefined;
    sum += s;
  }
  return sum;
}

/**
 * CPU seconds the whole machine has spent busy (every state but idle and iowait), from the first
 * line of /proc/stat; undefined where there is no /proc.
 */
export function machineBusySeconds(): number | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
  const fields = text.slice(0, text.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const busy = fields.slice(0, 8).reduce((sum, v, k) => (k === 3 || k === 4 ? sum : sum + v), 0);
  return busy / ticksPerSecond();
}
