import type { LoadResult } from './load.js';

/** One measured phase's figures for one system, or why it was not run. */
export type PhaseOutcome =
  | { readonly ran: true; readonly result: LoadResult; readonly note: string | undefined }
  | { readonly ran: false; readonly why: string };

export interface PhaseRow {
  readonly title: string;
  /** By system name, in column order. */
  readonly outcomes: ReadonlyMap<string, PhaseOutcome>;
}

export function opsPerSecond(r: LoadResult): number {
  return r.seconds > 0 ? r.ops / r.seconds : 0;
}

/** Server CPU microseconds per operation, summed over the members. */
export function serverCpuMicros(r: LoadResult): number | undefined {
  return r.serverCpuSeconds === undefined || r.ops === 0 ? undefined : (r.serverCpuSeconds * 1e6) / r.ops;
}

function clientCpuMicros(r: LoadResult): number | undefined {
  return r.ops === 0 ? undefined : (r.clientCpuSeconds * 1e6) / r.ops;
}

/** Cores that other processes kept busy during the window: a disturbed run shows here. */
function othersCores(r: LoadResult): string {
  return r.othersCpuSeconds === undefined || r.seconds === 0
    ? '—'
    : (r.othersCpuSeconds / r.seconds).toFixed(2);
}

const COLUMNS = [
  ['phase', 31],
  ['system', 14],
  ['ops/s', 9],
  ['p50 ms', 8],
  ['p99 ms', 8],
  ['max ms', 8],
  ['srv CPU/op', 11],
  ['cli CPU/op', 11],
  ['errors', 7],
  ['others', 7],
] as const;

function line(cells: readonly string[]): string {
  return cells
    .map((c, k) => {
      const [, width] = COLUMNS[k]!;
      return k < 2 ? c.padEnd(width) : c.padStart(width);
    })
    .join(' ')
    .trimEnd();
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => (Number.isNaN(n) ? '—' : n < 10 ? n.toFixed(2) : n.toFixed(1));
const us = (n: number | undefined) => (n === undefined ? '—' : `${int(n)} µs`);
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || !(b > 0) || Number.isNaN(a) ? '—' : `${(a / b).toFixed(2)}×`;

/**
 * The table: one line per phase and system, then (with two systems) a line of ratios
 * first ÷ second for every column.
 */
export function table(rows: readonly PhaseRow[], systems: readonly string[]): string[] {
  const out = [line(COLUMNS.map(([h]) => h))];
  for (const row of rows) {
    let first = true;
    for (const name of systems) {
      const o = row.outcomes.get(name);
      const title = first ? row.title : '';
      first = false;
      if (o === undefined) continue;
      if (!o.ran) {
        out.push(`${line([title, name, '—', '', '', '', '', '', '', ''])}   (${o.why})`);
        continue;
      }
      const r = o.result;
      out.push(
        line([
          title,
          name,
          int(opsPerSecond(r)),
          ms(r.latency.p50),
          ms(r.latency.p99),
          ms(r.latency.max),
          us(serverCpuMicros(r)),
          us(clientCpuMicros(r)),
          String(r.errors),
          othersCores(r),
        ]) + (o.note === undefined ? '' : `   (${o.note})`),
      );
    }
    const [a, b] = systems.map((s) => row.outcomes.get(s));
    if (systems.length === 2 && a?.ran === true && b?.ran === true) {
      const x = a.result;
      const y = b.result;
      out.push(
        line([
          '',
          `${systems[0]}/${systems[1]}`,
          ratio(opsPerSecond(x), opsPerSecond(y)),
          ratio(x.latency.p50, y.latency.p50),
          ratio(x.latency.p99, y.latency.p99),
          ratio(x.latency.max, y.latency.max),
          ratio(serverCpuMicros(x), serverCpuMicros(y)),
          ratio(clientCpuMicros(x), clientCpuMicros(y)),
          '',
          '',
        ]),
      );
    }
  }
  return out;
}

/** `a ÷ b` in throughput for one system, or undefined when either phase did not run. */
export function throughputRatio(a: PhaseOutcome | undefined, b: PhaseOutcome | undefined): string {
  if (a?.ran !== true || b?.ran !== true) return '—';
  return ratio(opsPerSecond(a.result), opsPerSecond(b.result));
}
