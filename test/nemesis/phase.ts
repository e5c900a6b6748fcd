import { assert } from '../../src/raft/assert.js';
import { Prng } from '../../src/sim/prng.js';
import type { FaultLog } from './fault-log.js';
import { Filler } from './filler.js';
import { type FinalReads, readEverything } from './final-reads.js';
import type { HistoryRecorder, OutcomeCounts } from './history-recorder.js';
import { KeySpace } from './key-space.js';
import { type NemesisCluster, sleep } from './nemesis-cluster.js';
import { recover } from './recovery.js';
import { type Agreement, checkReplicasAgree } from './replica-agreement.js';
import type { Scenario, ScenarioCheck, ScenarioContext } from './scenario.js';
import { type Anomaly, type Endpoint, Workload } from './workload.js';

/** Settings shared by every phase of a run. */
export interface PhaseSettings {
  readonly seed: number;
  readonly clients: number;
  readonly electionTimeoutMs: number;
  readonly snapshotEntries: number;
  /** Keys in use at a time per scenario. */
  readonly keySlots: number;
  readonly requestTimeoutMs: number;
  readonly recoveryMs: number;
  /** The 503 codes taken to mean "never applied". */
  readonly neverApplied: ReadonlySet<string>;
  readonly print: (line: string) => void;
}

/** What the run shares between phases. */
export interface PhaseEnv {
  readonly cluster: NemesisCluster;
  readonly recorder: HistoryRecorder;
  readonly faults: FaultLog;
  readonly anomalies: Anomaly[];
  readonly nextValue: () => string;
}

/** Everything one scenario produced, except the linearizability verdict (judged at the end). */
export interface PhaseReport {
  readonly name: string;
  readonly title: string;
  readonly faultMs: number;
  readonly faults: Record<string, number>;
  /** New leaders the harness saw during the scenario. */
  readonly leadersSeen: number;
  /** Successful client reads by how they were asked and served, e.g. `lease → lease`. */
  readonly readsServed: Record<string, number>;
  readonly keys: string[];
  readonly ops: OutcomeCounts;
  readonly recovered: boolean;
  readonly recoveryMs: number;
  readonly recoveryDetail: string;
  readonly finals: FinalReads;
  readonly replicas: Agreement;
  /** The checks the scenario declares (Scenario.checks), each to be judged at least once. */
  readonly declaredChecks: readonly string[];
  readonly checks: ScenarioCheck[];
  readonly fillAcked: number;
  readonly fillMissing: string[];
  readonly notes: string[];
  readonly harnessError: string | undefined;
}

/** A seed for one scenario's stream: the same in `--scenario all` and `--scenario NAME`. */
export function scenarioSeed(seed: number, name: string): number {
  let h = seed >>> 0;
  for (let k = 0; k < name.length; k++) h = Math.imul(h ^ name.charCodeAt(k), 0x01000193) >>> 0;
  return h;
}

/**
 * One scenario on the running cluster: clients run while the scenario injects faults for
 * `faultMs`; then everything is healed and restarted, the cluster must recover within
 * `recoveryMs`, every key is read through every node, and the replicas must agree.
 */
export async function runPhase(
  env: PhaseEnv,
  settings: PhaseSettings,
  scenario: Scenario,
  faultMs: number,
): Promise<PhaseReport> {
  const rng = new Prng(scenarioSeed(settings.seed, scenario.name));
  const keys = new KeySpace(scenario.name, settings.keySlots);
  env.faults.scenario = scenario.name;
  settings.print(`scenario ${scenario.name}: ${scenario.title} (${(faultMs / 1000).toFixed(1)} s of faults)`);
  const focus: { current: Endpoint | undefined } = { current: undefined };
  const workload = new Workload(
    {
      recorder: env.recorder,
      endpoints: env.cluster.nodes.map((n) => ({ id: n.id, url: n.clientUrl })),
      keys,
      rng: rng.fork(),
      timeoutMs: settings.requestTimeoutMs,
      pauseMs: [5, 30],
      focus: () => focus.current,
      nextValue: env.nextValue,
      anomalies: env.anomalies,
      neverApplied: settings.neverApplied,
    },
    settings.clients,
  );
  const findings: Findings = { checks: [], notes: [], fill: new Filler(scenario.name, env.nextValue) };
  workload.start();
  await sleep(300);
  const started = performance.now();
  const ctx = scenarioContext(env.cluster, settings, scenario, {
    rng: rng.fork(),
    deadline: started + faultMs,
    focus,
    findings,
  });
  let harnessError: string | undefined;
  try {
    await scenario.run(ctx);
  } catch (err) {
    harnessError = `the scenario threw: ${(err as Error).stack ?? String(err)}`;
    settings.print(`  ${harnessError}`);
  }
  focus.current = undefined;
  const faultElapsed = performance.now() - started;
  return finishPhase(env, settings, { scenario, keys, workload, findings, harnessError, faultElapsed, rng });
}

/** What a scenario reports while it runs. */
interface Findings {
  readonly checks: ScenarioCheck[];
  readonly notes: string[];
  readonly fill: Filler;
}

/** The handle a scenario injects faults through. */
function scenarioContext(
  cluster: NemesisCluster,
  settings: PhaseSettings,
  scenario: Scenario,
  o: { rng: Prng; deadline: number; focus: { current: Endpoint | undefined }; findings: Findings },
): ScenarioContext {
  const { checks, notes, fill } = o.findings;
  const name = scenario.name;
  const declared = (check: string): void =>
    assert(scenario.checks.includes(check), `nemesis: ${name} judges "${check}", not in its checks`);
  return {
    cluster,
    rng: o.rng,
    electionTimeoutMs: settings.electionTimeoutMs,
    snapshotEntries: settings.snapshotEntries,
    timeLeft: () => o.deadline - performance.now(),
    setFocus: (id) => {
      o.focus.current = id === undefined ? undefined : { id, url: cluster.node(id).clientUrl };
    },
    fill: (count, via, budgetMs) =>
      fill.run(cluster.node(via).clientUrl, count, budgetMs, settings.requestTimeoutMs),
    check: (check, passed, detail) => {
      declared(check);
      checks.push({ scenario: name, name: check, judged: true, passed, detail });
      settings.print(`  ${passed ? 'ok  ' : 'FAIL'} ${check}: ${detail}`);
    },
    notJudged: (check, reason) => {
      declared(check);
      checks.push({ scenario: name, name: check, judged: false, passed: false, detail: reason });
      settings.print(`  NOT JUDGED ${check}: ${reason}`);
    },
    note: (text) => {
      notes.push(text);
      settings.print(`  note ${text}`);
    },
  };
}

interface Finishing {
  readonly scenario: Scenario;
  readonly keys: KeySpace;
  readonly workload: Workload;
  readonly findings: Findings;
  readonly harnessError: string | undefined;
  readonly faultElapsed: number;
  readonly rng: Prng;
}

/** Heals, waits for recovery while the clients go on, then reads everything and compares replicas. */
async function finishPhase(env: PhaseEnv, settings: PhaseSettings, f: Finishing): Promise<PhaseReport> {
  const { cluster, recorder, faults } = env;
  const recovery = await recover(cluster, f.rng.chance(0.5), settings.recoveryMs);
  settings.print(
    `  recovery: ${recovery.ok ? 'ok' : 'FAILED'} in ${Math.round(recovery.ms)} ms (${recovery.detail})`,
  );
  await sleep(500);
  await f.workload.stop();
  const deadline = performance.now() + settings.recoveryMs;
  const finals = await readEverything(cluster, recorder, f.keys.all(), deadline, settings.requestTimeoutMs);
  const prefixes = [`${f.scenario.name}/k`, ...f.findings.fill.prefixes()];
  const replicas = await checkReplicasAgree(cluster, prefixes, deadline);
  settings.print(`  replicas: ${replicas.agree ? 'agree' : 'DIFFER'}: ${replicas.detail}`);
  // Beyond one range read's 10,000 keys the fill check would see keys as missing that were not compared.
  const state = replicas.state;
  const { checks, notes, fill } = f.findings;
  const fillMissing = state === undefined || state.more ? [] : fill.missingFrom(state.items);
  return {
    name: f.scenario.name,
    title: f.scenario.title,
    faultMs: f.faultElapsed,
    faults: faults.countsFor(f.scenario.name),
    leadersSeen: faults.observedFor(f.scenario.name, 'leader'),
    readsServed: f.workload.readsServed,
    keys: f.keys.all(),
    ops: recorder.counts((key) => f.keys.owns(key)),
    recovered: recovery.ok && finals.unread.length === 0,
    recoveryMs: recovery.ms,
    recoveryDetail:
      finals.unread.length === 0 ? recovery.detail : `${recovery.detail}; unread: ${finals.unread.join(' ')}`,
    finals,
    replicas,
    declaredChecks: f.scenario.checks,
    checks,
    fillAcked: fill.acked.size,
    fillMissing,
    notes,
    harnessError: f.harnessError,
  };
}
