import type { Prng } from '../../src/sim/prng.js';
import type { CutMode } from './link-proxy.js';
import { type NemesisCluster, sleep } from './nemesis-cluster.js';

/**
 * A property a scenario asserts on its own (besides linearizability), with the evidence; or, when
 * `judged` is false, why it could not be judged this time (a problem of the run, not a pass).
 */
export interface ScenarioCheck {
  readonly scenario: string;
  readonly name: string;
  readonly judged: boolean;
  /** False when not judged. */
  readonly passed: boolean;
  readonly detail: string;
}

/** What a scenario may use while it injects faults. */
export interface ScenarioContext {
  readonly cluster: NemesisCluster;
  /** The scenario's own stream: same seed, same sequence of decisions. */
  readonly rng: Prng;
  readonly electionTimeoutMs: number;
  readonly snapshotEntries: number;
  /** Milliseconds until the scenario must stop injecting faults. */
  timeLeft(): number;
  /** Sends half of the clients' operations to this node (undefined: spread them evenly). */
  setFocus(id: string | undefined): void;
  /**
   * Writes `count` fresh keys through node `via` with many concurrent clients, for at most
   * `budgetMs`; resolves with how many were acknowledged. Every acknowledged one is checked to
   * be on every node at the end of the scenario.
   */
  fill(count: number, via: string, budgetMs: number): Promise<number>;
  /** Judges one of the scenario's {@link Scenario.checks}. */
  check(name: string, passed: boolean, detail: string): void;
  /** One of the scenario's checks could not be judged within its bound: a problem of the run. */
  notJudged(name: string, reason: string): void;
  /** A message in the run's log. */
  note(text: string): void;
}

/** One named fault schedule. */
export interface Scenario {
  readonly name: string;
  /** The question it answers, in one line. */
  readonly title: string;
  /**
   * The names of the checks it judges besides linearizability. Each must be judged at least once
   * in every run of the scenario; one never judged, or not judged in some round, is a problem.
   */
  readonly checks: readonly string[];
  run(ctx: ScenarioContext): Promise<void>;
}

/** `reset` or `blackhole`, at random. */
export function pickCutMode(rng: Prng): CutMode {
  return rng.chance(0.5) ? 'reset' : 'blackhole';
}

/** The largest minority of `n` nodes. */
export function minoritySize(n: number): number {
  return Math.floor((n - 1) / 2);
}

/** Waits for a leader for at most the time left (and at most 5 s). */
export async function leaderOrNothing(
  ctx: ScenarioContext,
): Promise<{ id: string; term: number } | undefined> {
  const l = await ctx.cluster.waitLeader(Math.max(1000, Math.min(5000, ctx.timeLeft())));
  if (l === undefined) await sleep(100);
  return l;
}

/** Rounds of one scenario, at most: every loop of the harness is bounded in count as well as time. */
const ROUNDS_MAX = 10_000;

/**
 * Runs `round` at least once, then again while more than `reserveMs` are left. A round that could
 * not start (no leader) resolves false and does not count; trying stops 10 s past the deadline.
 */
export async function repeat(
  ctx: ScenarioContext,
  reserveMs: number,
  round: () => Promise<boolean>,
): Promise<void> {
  let done = 0;
  for (let attempt = 0; attempt < ROUNDS_MAX; attempt++) {
    const left = ctx.timeLeft();
    if (done > 0 ? left <= reserveMs : left <= -10_000) return;
    if (await round()) done++;
  }
}

/**
 * Waits at most `boundMs` for a leader that a majority follows and that keeps its place and term
 * for one election timeout (so not one about to lose an election already under way).
 */
export async function stableLeader(
  ctx: ScenarioContext,
  boundMs: number,
): Promise<{ id: string; term: number } | undefined> {
  const deadline = performance.now() + boundMs;
  let held: { id: string; term: number; since: number } | undefined;
  while (performance.now() < deadline) {
    const l = await ctx.cluster.leader();
    const now = performance.now();
    if (l === undefined) held = undefined;
    else if (held === undefined || held.id !== l.id || held.term !== l.term) held = { ...l, since: now };
    else if (now - held.since >= ctx.electionTimeoutMs) return { id: l.id, term: l.term };
    await sleep(50);
  }
  return undefined;
}

/** Every node but `id`. */
export function others(cluster: NemesisCluster, id: string): string[] {
  return cluster.ids.filter((x) => x !== id);
}
