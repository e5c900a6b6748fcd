/** What the nemesis did, and when, on the same clock as the history's `time`. */
export interface FaultEvent {
  /** performance.now() in the harness, like the history's `time`. */
  readonly time: number;
  /** The same instant on the wall clock, to find it in the nodes' logs. */
  readonly wall: string;
  readonly scenario: string;
  /** A short stable name: `kill`, `start`, `pause`, `resume`, `partition`, `heal`, `links`, ... */
  readonly kind: string;
  readonly detail: string;
  /** Something the harness saw rather than did (a new leader): not counted as a fault. */
  readonly observed?: true;
}

/** Every fault injected in a run, in order; printed live when `print` is given. */
export class FaultLog {
  readonly events: FaultEvent[] = [];
  scenario = '';

  constructor(
    private readonly print?: (line: string) => void,
    private readonly origin = performance.now(),
  ) {}

  add(kind: string, detail: string, observed = false): void {
    const time = performance.now();
    const event: FaultEvent = {
      time,
      wall: wallClock(time),
      scenario: this.scenario,
      kind,
      detail,
      ...(observed ? { observed: true as const } : {}),
    };
    this.events.push(event);
    this.print?.(`  ${formatSeconds(event.time - this.origin)} ${kind.padEnd(9)} ${detail}`);
  }

  /** How many faults of each kind a scenario injected. */
  countsFor(scenario: string): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const e of this.events) {
      if (e.scenario === scenario && e.observed !== true) counts[e.kind] = (counts[e.kind] ?? 0) + 1;
    }
    return counts;
  }

  /** How many observations of `kind` were made during a scenario. */
  observedFor(scenario: string, kind: string): number {
    return this.events.filter((e) => e.scenario === scenario && e.kind === kind && e.observed === true)
      .length;
  }

  toJsonl(): string {
    return this.events.map((e) => JSON.stringify(e)).join('\n') + (this.events.length > 0 ? '\n' : '');
  }
}

/** `12.3s`, for logs. */
export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1).padStart(6)}s`;
}

/** The wall-clock instant of a performance.now() reading of this process, as in the nodes' logs. */
export function wallClock(time: number): string {
  return new Date(performance.timeOrigin + time).toISOString();
}
