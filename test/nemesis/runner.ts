import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkHistory, kvModel, parseJsonlHistory, renderHtmlReport } from '../../src/check/index.js';
import { Prng } from '../../src/sim/prng.js';
import { findFailedWritesSeen, valuesOfFailedWrites } from './failed-writes.js';
import { FaultLog } from './fault-log.js';
import { HistoryRecorder } from './history-recorder.js';
import { NEVER_APPLIED } from './kv-http.js';
import { LeaderWatch } from './leader-watch.js';
import { findLostWrites } from './lost-writes.js';
import { NemesisCluster } from './nemesis-cluster.js';
import { type PhaseEnv, type PhaseReport, type PhaseSettings, runPhase } from './phase.js';
import { recover } from './recovery.js';
import { formatSummary, type NemesisSummary, summarize } from './report.js';
import type { Scenario } from './scenario.js';
import type { Anomaly } from './workload.js';

/** Everything a run needs; {@link DEFAULTS} fills what is not given. */
export interface NemesisOptions {
  readonly scenarios: readonly Scenario[];
  /** Seconds of faults for the whole run, shared equally by the scenarios. */
  readonly durationS: number;
  readonly seed: number;
  readonly nodes: number;
  readonly clients: number;
  readonly out: string;
  readonly electionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly snapshotEntries: number;
  /** Start the nodes with `--lease-reads` (a third of the reads ask for `consistency=lease`). */
  readonly leaseReads: boolean;
  /** Keys in use at a time per scenario (each retired after KEY_OPS_MAX operations). */
  readonly keySlots: number;
  /** Deadline for the cluster to recover after each scenario. */
  readonly recoveryS: number;
  readonly requestTimeoutMs: number;
  /** Per-key wall-clock budget of the linearizability search. */
  readonly checkMsMax: number;
  /**
   * 503 codes whose promise ("never applied") is not relied on: such answers are recorded as
   * unknown outcomes. For telling which promise a violation breaks; empty by default.
   */
  readonly distrust: readonly string[];
  /** Keep the nodes' data folders even when the run passes. */
  readonly keepData: boolean;
  readonly print: (line: string) => void;
}

/** Defaults of the optional settings. */
export const DEFAULTS = {
  durationS: 60,
  nodes: 3,
  clients: 6,
  electionTimeoutMs: 400,
  heartbeatIntervalMs: 50,
  snapshotEntries: 200,
  leaseReads: true,
  keySlots: 5,
  recoveryS: 30,
  requestTimeoutMs: 3000,
  checkMsMax: 20_000,
  keepData: false,
  distrust: [] as readonly string[],
};

/** Faults of one scenario last at least this long, however short the run. */
const PHASE_MS_MIN = 3000;

/**
 * Runs the scenarios one after another on one cluster of real processes, each on keys of its own,
 * then checks the whole history and writes history.jsonl, faults.jsonl, summary.json,
 * summary.txt and report.html to `out`. Never throws for a finding: the summary says it.
 */
export async function runNemesis(options: NemesisOptions): Promise<NemesisSummary> {
  const started = performance.now();
  const { out, print } = options;
  mkdirSync(out, { recursive: true });
  print(`nemesis: seed=${options.seed} nodes=${options.nodes} clients=${options.clients} out=${out}`);
  const faults = new FaultLog(print);
  const recorder = new HistoryRecorder();
  const anomalies: Anomaly[] = [];
  let valueSeq = 0;
  const cluster = await NemesisCluster.create({
    nodes: options.nodes,
    root: out,
    clusterId: 'nemesis',
    electionTimeoutMs: options.electionTimeoutMs,
    heartbeatIntervalMs: options.heartbeatIntervalMs,
    snapshotEntries: options.snapshotEntries,
    leaseReads: options.leaseReads,
    rng: new Prng(options.seed).fork(),
    faults,
  });
  const killOnExit = () => cluster.killAllNow();
  process.once('exit', killOnExit);
  const watch = new LeaderWatch(cluster, faults);
  watch.start();
  const phases: PhaseReport[] = [];
  let startupProblem: string | undefined;
  try {
    const first = await recover(cluster, false, options.recoveryS * 1000);
    if (!first.ok) startupProblem = `the cluster did not elect a leader at start: ${first.detail}`;
    const env: PhaseEnv = { cluster, recorder, faults, anomalies, nextValue: () => `v${valueSeq++}` };
    const settings = phaseSettings(options);
    const faultMs = Math.max(PHASE_MS_MIN, (options.durationS * 1000) / options.scenarios.length);
    for (const scenario of first.ok ? options.scenarios : []) {
      const report = await runPhase(env, settings, scenario, faultMs);
      phases.push(report);
      if (!report.recovered) break;
    }
  } finally {
    faults.scenario = '';
    await watch.stop();
    await cluster.stop();
    process.removeListener('exit', killOnExit);
  }
  const summary = judge(options, { recorder, faults, anomalies, phases, cluster, startupProblem, started });
  if (summary.result === 'pass' && !options.keepData)
    rmSync(join(out, 'data'), { recursive: true, force: true });
  return summary;
}

function phaseSettings(o: NemesisOptions): PhaseSettings {
  return {
    seed: o.seed,
    clients: o.clients,
    electionTimeoutMs: o.electionTimeoutMs,
    snapshotEntries: o.snapshotEntries,
    keySlots: o.keySlots,
    requestTimeoutMs: o.requestTimeoutMs,
    recoveryMs: o.recoveryS * 1000,
    neverApplied: new Set([...NEVER_APPLIED].filter((c) => !o.distrust.includes(c))),
    print: o.print,
  };
}

interface Judging {
  readonly recorder: HistoryRecorder;
  readonly faults: FaultLog;
  readonly anomalies: readonly Anomaly[];
  readonly phases: readonly PhaseReport[];
  readonly cluster: NemesisCluster;
  readonly startupProblem: string | undefined;
  readonly started: number;
}

/** Checks the history, looks for lost writes, and writes every output file. */
function judge(o: NemesisOptions, j: Judging): NemesisSummary {
  const text = j.recorder.toJsonl();
  writeFileSync(join(o.out, 'history.jsonl'), text);
  writeFileSync(join(o.out, 'faults.jsonl'), j.faults.toJsonl());
  const leftOut = j.recorder.leftOut();
  writeFileSync(join(o.out, 'left-out.jsonl'), leftOut.map((l) => `${JSON.stringify(l)}\n`).join(''));
  o.print('checking the history for linearizability …');
  const history = parseJsonlHistory(text, { source: 'history.jsonl' });
  const check = checkHistory(history, kvModel, { budget: { msMax: o.checkMsMax } });
  const finals = new Map(j.phases.flatMap((p) => [...p.finals.values]));
  const lostWrites = findLostWrites(
    history.operations,
    finals,
    valuesOfFailedWrites(j.recorder.events(), leftOut),
  );
  const failedWritesSeen = findFailedWritesSeen(j.recorder.events(), leftOut);
  const summary = summarize({
    seed: o.seed,
    replay: replayCommand(o),
    out: o.out,
    settings: {
      nodes: o.nodes,
      clients: o.clients,
      durationS: o.durationS,
      electionTimeoutMs: o.electionTimeoutMs,
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      snapshotEntries: o.snapshotEntries,
      leaseReads: o.leaseReads ? 'on' : 'off',
      requestTimeoutMs: o.requestTimeoutMs,
      scenarios: o.scenarios.map((s) => s.name).join(','),
      distrust: o.distrust.join(',') || 'none',
    },
    elapsedMs: performance.now() - j.started,
    phases: j.phases,
    check,
    lostWrites,
    failedWritesSeen,
    crashes: j.cluster.crashes,
    anomalies: j.anomalies,
    startupProblem: j.startupProblem,
  });
  const html = renderHtmlReport(check, { title: `Flotilla nemesis, seed ${o.seed}: ${summary.result}` });
  writeFileSync(join(o.out, 'report.html'), html);
  writeFileSync(join(o.out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(join(o.out, 'summary.txt'), formatSummary(summary));
  return summary;
}

/** The command that replays this run's fault schedule. */
export function replayCommand(o: NemesisOptions): string {
  const names = o.scenarios.map((s) => s.name).join(',');
  const distrust =
    (o.distrust.length === 0 ? '' : ` --distrust ${o.distrust.join(',')}`) +
    (o.leaseReads ? '' : ' --no-lease-reads');
  return `npm run nemesis -- --seed ${o.seed} --scenario ${names} --duration ${o.durationS} --nodes ${o.nodes} --clients ${o.clients}${distrust}`;
}
