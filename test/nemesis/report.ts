import type { HistoryCheck, Verdict } from '../../src/check/index.js';
import { explainViolation, verdictLine } from '../../src/check/index.js';
import type { FailedWriteSeen } from './failed-writes.js';
import type { OutcomeCounts } from './history-recorder.js';
import type { LostWrite } from './lost-writes.js';
import type { Crash } from './nemesis-cluster.js';
import type { PhaseReport } from './phase.js';
import type { ScenarioCheck } from './scenario.js';
import type { Anomaly } from './workload.js';

/** How a run ended, and its exit status. */
export const EXIT = { pass: 0, violation: 1, unknown: 2, recoveryFailed: 3, usage: 64 } as const;
export type RunResult = 'pass' | 'violation' | 'unknown' | 'recovery-failed';

/** How one of a scenario's declared checks fared over its rounds. */
export interface CheckTally {
  readonly name: string;
  /** Rounds that judged it; at least one is required. */
  readonly judged: number;
  readonly passed: number;
  /** Rounds that could not judge it within their bounds (each one a problem). */
  readonly notJudged: number;
}

/** One scenario in the summary. */
export interface ScenarioSummary {
  readonly name: string;
  readonly title: string;
  readonly faultSeconds: number;
  readonly faults: Record<string, number>;
  readonly leadersSeen: number;
  readonly readsServed: Record<string, number>;
  readonly ops: OutcomeCounts;
  readonly keys: number;
  readonly verdict: Verdict;
  readonly recovered: boolean;
  readonly recoveryMs: number;
  readonly recoveryDetail: string;
  readonly replicas: { readonly agree: boolean; readonly diverged: boolean; readonly detail: string };
  /** Every judgement (or failure to judge) of the scenario's own checks, in order. */
  readonly checks: readonly ScenarioCheck[];
  /** Each check the scenario declares, with how often it was judged and passed. */
  readonly checkTally: readonly CheckTally[];
  readonly fillAcked: number;
  readonly fillMissing: readonly string[];
  readonly notes: readonly string[];
  readonly harnessError: string | undefined;
}

/** summary.json. */
export interface NemesisSummary {
  readonly result: RunResult;
  readonly exitCode: number;
  readonly seed: number;
  readonly replay: string;
  readonly out: string;
  readonly settings: Record<string, number | string>;
  readonly elapsedSeconds: number;
  /** Wall-clock ms at history time 0: `time` t happened at timeOrigin + t (node logs use wall time). */
  readonly timeOrigin: number;
  readonly scenarios: readonly ScenarioSummary[];
  readonly linearizability: {
    readonly verdict: Verdict;
    readonly keys: number;
    readonly operations: number;
    readonly dropped: number;
    readonly checkMs: number;
    readonly notLinearizable: readonly { key: string; explanation: string }[];
    readonly unknown: readonly string[];
  };
  readonly lostWrites: readonly LostWrite[];
  /** Writes answered "not applied" whose value was read: which answer broke its promise. */
  readonly failedWritesSeen: readonly FailedWriteSeen[];
  readonly crashes: readonly Crash[];
  readonly anomalies: {
    readonly count: number;
    readonly byReason: Record<string, number>;
    readonly samples: Anomaly[];
  };
  /** One line per safety finding; empty means zero violations. */
  readonly violations: readonly string[];
  /** Failed recoveries, harness errors and undecided keys: not violations, but the run is not a pass. */
  readonly problems: readonly string[];
  readonly faultsTotal: Record<string, number>;
}

/** Inputs of {@link summarize}. */
export interface SummaryInput {
  readonly seed: number;
  readonly replay: string;
  readonly out: string;
  readonly settings: Record<string, number | string>;
  readonly elapsedMs: number;
  readonly phases: readonly PhaseReport[];
  readonly check: HistoryCheck;
  readonly lostWrites: readonly LostWrite[];
  readonly failedWritesSeen: readonly FailedWriteSeen[];
  readonly crashes: readonly Crash[];
  readonly anomalies: readonly Anomaly[];
  readonly startupProblem: string | undefined;
}

function worst(verdicts: readonly Verdict[]): Verdict {
  if (verdicts.includes('violation')) return 'violation';
  return verdicts.includes('unknown') ? 'unknown' : 'ok';
}

function scenarioSummary(p: PhaseReport, check: HistoryCheck): ScenarioSummary {
  const keys = new Set(p.keys);
  return {
    name: p.name,
    title: p.title,
    faultSeconds: Math.round(p.faultMs) / 1000,
    faults: p.faults,
    leadersSeen: p.leadersSeen,
    readsServed: p.readsServed,
    ops: p.ops,
    keys: p.keys.length,
    verdict: worst(check.keys.filter((k) => keys.has(k.key)).map((k) => k.verdict)),
    recovered: p.recovered,
    recoveryMs: Math.round(p.recoveryMs),
    recoveryDetail: p.recoveryDetail,
    replicas: { agree: p.replicas.agree, diverged: p.replicas.diverged, detail: p.replicas.detail },
    checks: p.checks,
    checkTally: p.declaredChecks.map((name) => tallyOf(name, p.checks)),
    fillAcked: p.fillAcked,
    fillMissing: p.fillMissing.slice(0, 20),
    notes: p.notes,
    harnessError: p.harnessError,
  };
}

function tallyOf(name: string, checks: readonly ScenarioCheck[]): CheckTally {
  const mine = checks.filter((c) => c.name === name);
  return {
    name,
    judged: mine.filter((c) => c.judged).length,
    passed: mine.filter((c) => c.judged && c.passed).length,
    notJudged: mine.filter((c) => !c.judged).length,
  };
}

/** Collects every finding of a run into summary.json's shape and decides the result. */
export function summarize(input: SummaryInput): NemesisSummary {
  const { check } = input;
  const scenarios = input.phases.map((p) => scenarioSummary(p, check));
  const violations: string[] = [];
  const problems: string[] = [];
  if (input.startupProblem !== undefined) problems.push(input.startupProblem);
  for (const k of check.keys) if (k.verdict === 'violation') violations.push(verdictLine(k));
  for (const w of input.lostWrites) violations.push(`lost write on ${JSON.stringify(w.key)}: ${w.detail}`);
  for (const w of input.failedWritesSeen) violations.push(`failed write observed: ${w.detail}`);
  for (const c of input.crashes) {
    const last = c.logTail.trim().split('\n').at(-1) ?? '';
    violations.push(
      `node ${c.id} (pid ${c.pid}) exited by itself (code ${c.code}, signal ${c.signal}): ${last}`,
    );
  }
  for (const s of scenarios) {
    if (s.replicas.diverged) violations.push(`${s.name}: replicas diverged: ${s.replicas.detail}`);
    else if (!s.replicas.agree) problems.push(`${s.name}: ${s.replicas.detail}`);
    for (const m of s.fillMissing)
      violations.push(`${s.name}: acknowledged write missing after recovery: ${m}`);
    for (const c of s.checks) {
      if (!c.judged) problems.push(`${s.name}: ${c.name}: not judged: ${c.detail}`);
      else if (!c.passed) violations.push(`${s.name}: ${c.name}: ${c.detail}`);
    }
    for (const t of s.checkTally) {
      if (t.judged === 0 && t.notJudged === 0)
        problems.push(`${s.name}: ${t.name}: never judged (no round of the scenario reached it)`);
    }
    if (!s.recovered) problems.push(`${s.name}: recovery failed: ${s.recoveryDetail}`);
    if (s.harnessError !== undefined) problems.push(`${s.name}: ${s.harnessError}`);
  }
  const unknown = check.keys.filter((k) => k.verdict === 'unknown').map((k) => verdictLine(k));
  const recoveryFailed = problems.length > 0;
  const result: RunResult =
    violations.length > 0
      ? 'violation'
      : recoveryFailed
        ? 'recovery-failed'
        : unknown.length > 0
          ? 'unknown'
          : 'pass';
  const exitCode = {
    pass: EXIT.pass,
    violation: EXIT.violation,
    unknown: EXIT.unknown,
    'recovery-failed': EXIT.recoveryFailed,
  }[result];
  return {
    result,
    exitCode,
    seed: input.seed,
    replay: input.replay,
    out: input.out,
    settings: input.settings,
    elapsedSeconds: Math.round(input.elapsedMs) / 1000,
    timeOrigin: performance.timeOrigin,
    scenarios,
    linearizability: {
      verdict: check.verdict,
      keys: check.keys.length,
      operations: check.operationCount,
      dropped: check.droppedCount,
      checkMs: Math.round(check.elapsedMs),
      notLinearizable: check.keys
        .filter((k) => k.violation !== undefined)
        .map((k) => ({ key: k.key, explanation: explainViolation(k) })),
      unknown,
    },
    lostWrites: input.lostWrites,
    failedWritesSeen: input.failedWritesSeen,
    crashes: input.crashes,
    anomalies: anomalySummary(input.anomalies),
    violations,
    problems: [...problems, ...unknown],
    faultsTotal: totalFaults(scenarios),
  };
}

function anomalySummary(anomalies: readonly Anomaly[]): NemesisSummary['anomalies'] {
  const byReason: Record<string, number> = {};
  for (const a of anomalies) {
    const reason = a.reason.slice(0, 120);
    byReason[reason] = (byReason[reason] ?? 0) + 1;
  }
  return { count: anomalies.length, byReason, samples: anomalies.slice(0, 20) };
}

function totalFaults(scenarios: readonly ScenarioSummary[]): Record<string, number> {
  const total: Record<string, number> = {};
  for (const s of scenarios) for (const [k, v] of Object.entries(s.faults)) total[k] = (total[k] ?? 0) + v;
  return total;
}

function opsLine(ops: OutcomeCounts): string {
  return (['get', 'put', 'delete', 'cas'] as const)
    .map((f) => {
      const c = ops[f];
      const leftOut = f === 'cas' ? ` ${c['left-out']} left out` : '';
      return `${f} ${c.invoke} (${c.ok} ok, ${c.fail} fail, ${c.info} info${leftOut})`;
    })
    .join(', ');
}

function faultsLine(faults: Record<string, number>): string {
  const parts = Object.entries(faults).map(([k, v]) => `${k} ×${v}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

/** summary.txt: the same findings for people. */
export function formatSummary(s: NemesisSummary): string {
  const lines = [
    `Flotilla nemesis: ${s.result.toUpperCase()} (exit ${s.exitCode})  seed=${s.seed}  ${s.elapsedSeconds} s`,
    `settings: ${Object.entries(s.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
    '',
  ];
  for (const c of s.scenarios) {
    lines.push(`scenario ${c.name} — ${c.title}`);
    lines.push(`  ${c.faultSeconds} s of faults: ${faultsLine(c.faults)}; ${c.leadersSeen} new leaders seen`);
    lines.push(`  operations: ${opsLine(c.ops)}`);
    const served = Object.entries(c.readsServed).map(([k, v]) => `${k} ${v}`);
    lines.push(`  reads asked → served as: ${served.length === 0 ? 'none' : served.join(', ')}`);
    lines.push(`  ${c.keys} keys: ${c.verdict === 'ok' ? 'linearizable' : c.verdict.toUpperCase()}`);
    lines.push(`  recovery: ${c.recovered ? 'ok' : 'FAILED'} in ${c.recoveryMs} ms (${c.recoveryDetail})`);
    lines.push(
      `  replicas: ${c.replicas.agree ? 'agree' : c.replicas.diverged ? 'DIVERGED' : 'did not converge'} — ${c.replicas.detail}`,
    );
    if (c.fillAcked > 0)
      lines.push(
        `  bulk writes: ${c.fillAcked} acknowledged, ${c.fillMissing.length} missing after recovery`,
      );
    for (const k of c.checks)
      lines.push(`  ${k.judged ? (k.passed ? 'ok  ' : 'FAIL') : 'NOT JUDGED'} ${k.name}: ${k.detail}`);
    for (const t of c.checkTally) {
      const missed = t.notJudged > 0 ? `, not judged ${t.notJudged}×` : '';
      lines.push(`  check "${t.name}": judged ${t.judged}×, passed ${t.passed}×${missed}`);
    }
    for (const n of c.notes) lines.push(`  note: ${n}`);
    if (c.harnessError !== undefined) lines.push(`  harness error: ${c.harnessError}`);
  }
  const l = s.linearizability;
  lines.push('', `faults injected: ${faultsLine(s.faultsTotal)}`);
  lines.push(
    `linearizability: ${l.verdict} — ${l.keys} keys, ${l.operations} operations checked (+${l.dropped} dropped as irrelevant), ${l.checkMs} ms`,
  );
  for (const v of l.notLinearizable) lines.push('', v.explanation);
  lines.push(`lost acknowledged writes: ${s.lostWrites.length === 0 ? 'none' : s.lostWrites.length}`);
  const seen: Record<string, number> = {};
  for (const w of s.failedWritesSeen) seen[w.error] = (seen[w.error] ?? 0) + 1;
  lines.push(
    `writes answered "not applied" but read later: ${s.failedWritesSeen.length === 0 ? 'none' : JSON.stringify(seen)}`,
  );
  lines.push(
    `node crashes: ${s.crashes.length === 0 ? 'none' : s.crashes.map((c) => `node ${c.id} code ${c.code}`).join(', ')}`,
  );
  lines.push(
    `undocumented answers: ${s.anomalies.count === 0 ? 'none' : JSON.stringify(s.anomalies.byReason)}`,
  );
  lines.push('', s.violations.length === 0 ? 'violations: none' : `VIOLATIONS (${s.violations.length}):`);
  for (const v of s.violations) lines.push(`  - ${v}`);
  if (s.problems.length > 0)
    lines.push(`problems (${s.problems.length}):`, ...s.problems.map((p) => `  - ${p}`));
  lines.push('', `output: ${s.out}`, `replay: ${s.replay}`);
  lines.push(
    `clock: history time t is wall-clock ${new Date(s.timeOrigin).toISOString()} + t ms (node logs use wall time)`,
  );
  return `${lines.join('\n')}\n`;
}
