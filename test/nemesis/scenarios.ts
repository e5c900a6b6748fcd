import type { Prng } from '../../src/sim/prng.js';
import { HEALTHY, type LinkFaults } from './link-proxy.js';
import { membershipChurn } from './membership-churn.js';
import { type NemesisCluster, sleep } from './nemesis-cluster.js';
import {
  leaderOrNothing,
  minoritySize,
  others,
  pickCutMode,
  repeat,
  type Scenario,
  type ScenarioContext,
  stableLeader,
} from './scenario.js';

// The checks the scenarios judge besides linearizability (see Scenario.checks).
const STEPS_DOWN = 'an isolated leader steps down';
const TERM_KEPT = 'an isolated node does not raise its term';
const NOT_DEPOSED = 'the rejoining node does not depose the leader';
const CAUGHT_UP = 'a follower far behind catches up';
const BY_SNAPSHOT = 'it was caught up by a snapshot';
const TRANSFER_NAMES_TARGET = 'a transfer that succeeds names the node asked for';

/** The leader cut off in a minority while half of the clients talk to it; then healed. */
export const leaderIsolated: Scenario = {
  name: 'leader-isolated',
  title: 'the leader is cut off in a minority while clients read from it and write through it',
  checks: [STEPS_DOWN],
  async run(ctx) {
    const { cluster, rng, electionTimeoutMs: et } = ctx;
    await repeat(ctx, 1500, async () => {
      const l = await leaderOrNothing(ctx);
      if (l === undefined) return false;
      const rest = rng.shuffle(others(cluster, l.id));
      const minority = [l.id, ...rest.splice(0, minoritySize(cluster.nodes.length) - 1)];
      ctx.setFocus(l.id);
      cluster.partition([minority, rest], pickCutMode(rng), false);
      const held = rng.between(4 * et, 7 * et);
      await sleep(held);
      // CheckQuorum (thesis §6.2): a leader that has not heard from a majority for an election
      // timeout steps down.
      const s = await cluster.status(l.id);
      ctx.check(
        STEPS_DOWN,
        s === undefined || s.role !== 'leader' || s.term !== l.term,
        `node ${l.id}, leader in term ${l.term} before the partition, is ${s === undefined ? 'silent' : `${s.role} in term ${s.term}`} after ${Math.round(held)} ms`,
      );
      cluster.healAll(rng.chance(0.5));
      await sleep(rng.between(300, 800));
      ctx.setFocus(undefined);
      await sleep(rng.between(200, 600));
      return true;
    });
  },
};

/** The leader frozen with SIGSTOP for longer than the election timeout, then resumed. */
export const leaderPaused: Scenario = {
  name: 'leader-paused',
  title: 'the leader is paused (SIGSTOP) past its election timeout and resumed while clients use it',
  checks: [],
  async run(ctx) {
    const { cluster, rng, electionTimeoutMs: et } = ctx;
    await repeat(ctx, 1500, async () => {
      const l = await leaderOrNothing(ctx);
      if (l === undefined) return false;
      ctx.setFocus(l.id);
      cluster.pause(l.id);
      // Sometimes longer than the clients' timeout, so that some of their operations end unknown.
      await sleep(rng.between(3 * et, 9 * et));
      cluster.resume(l.id);
      // The resumed node still believes it leads until it hears the new term: keep clients on it.
      await sleep(rng.between(500, 1000));
      ctx.setFocus(undefined);
      await sleep(rng.between(200, 600));
      return true;
    });
  },
};

/** A fresh random partition about every second. */
export const randomPartitions: Scenario = {
  name: 'random-partitions',
  title: 'a new random partition (majority/minority, bridge, one-way, isolated leader) every second',
  checks: [],
  async run(ctx) {
    const { cluster, rng } = ctx;
    await repeat(ctx, 0, async () => {
      await randomPartition(cluster, rng);
      await sleep(rng.between(800, 1200));
      return true;
    });
  },
};

/** Applies one random partition shape (or heals everything). */
export async function randomPartition(cluster: NemesisCluster, rng: Prng): Promise<void> {
  const ids = rng.shuffle(cluster.ids);
  const mode = pickCutMode(rng);
  const flush = rng.chance(0.5);
  const n = ids.length;
  switch (rng.nextInt(6)) {
    case 0: {
      const size = rng.between(1, Math.max(1, minoritySize(n)));
      cluster.partition([ids.slice(0, size), ids.slice(size)], mode, flush);
      return;
    }
    case 1: {
      const [bridge, ...rest] = ids;
      const left = new Set(rest.slice(0, Math.floor(rest.length / 2)));
      cluster.shape((a, b) => a === bridge || b === bridge || left.has(a) === left.has(b), mode, flush);
      cluster.opts.faults.add('partition', `bridge through ${bridge}: {${[...left]}} and the rest (${mode})`);
      return;
    }
    case 2: {
      const [x] = ids;
      const inbound = rng.chance(0.5);
      cluster.shape((a, b) => (inbound ? b !== x : a !== x), mode, flush);
      cluster.opts.faults.add(
        'partition',
        `node ${x} ${inbound ? 'hears nothing' : 'says nothing'} (${mode})`,
      );
      return;
    }
    case 3: {
      const l = await cluster.leader();
      const target = l?.id ?? ids[0]!;
      cluster.partition([[target], ids.filter((x) => x !== target)], mode, flush);
      return;
    }
    case 4: {
      if (n < 4) {
        // One directed link: a sends nothing to b, b still reaches a.
        const [a, b] = ids;
        cluster.shape((x, y) => !(x === a && y === b), mode, flush);
        cluster.opts.faults.add('partition', `one-way: ${a}→${b} cut (${mode})`);
        return;
      }
      // A ring: each node hears only its two neighbours.
      const pos = new Map(ids.map((id, k) => [id, k]));
      const near = (a: string, b: string) => {
        const d = Math.abs(pos.get(a)! - pos.get(b)!);
        return d === 1 || d === n - 1;
      };
      cluster.shape(near, mode, flush);
      cluster.opts.faults.add('partition', `ring ${ids.join('-')} (${mode})`);
      return;
    }
    default:
      cluster.healAll(flush);
  }
}

/** A follower cut off for long, then healed: PreVote keeps it from deposing the leader. */
export const rejoinAfterIsolation: Scenario = {
  name: 'rejoin-after-isolation',
  title: 'a node rejoining after a long isolation does not depose the leader (PreVote)',
  checks: [TERM_KEPT, NOT_DEPOSED],
  async run(ctx) {
    await repeat(ctx, 3500, async () => {
      // A leader elected moments ago may still lose an election under way: that would be taken
      // for the rejoining node's doing.
      const l = await stableLeader(ctx, STABLE_LEADER_WAIT_MS);
      if (l === undefined) return false;
      await isolateAndRejoin(ctx, l);
      return true;
    });
  },
};

/** How long the rejoin scenario waits for a stable leader before it isolates or heals. */
const STABLE_LEADER_WAIT_MS = 5000;

async function isolateAndRejoin(ctx: ScenarioContext, l: { id: string; term: number }): Promise<void> {
  const { cluster, rng, electionTimeoutMs: et } = ctx;
  const f = rng.pick(others(cluster, l.id));
  cluster.partition([[f], others(cluster, f)], pickCutMode(rng), false);
  const isolateUntil = performance.now() + Math.max(3000, Math.min(8000, ctx.timeLeft() - 2500));
  let isolatedTermMax = 0;
  while (performance.now() < isolateUntil) {
    isolatedTermMax = Math.max(isolatedTermMax, (await cluster.status(f))?.term ?? 0);
    await sleep(200);
  }
  // Still isolated: the majority's leader must have settled before the heal can be judged.
  const before = await stableLeader(ctx, STABLE_LEADER_WAIT_MS);
  isolatedTermMax = Math.max(isolatedTermMax, (await cluster.status(f))?.term ?? 0);
  if (before === undefined) {
    cluster.healAll(false);
    const reason = `the majority without node ${f} had no stable leader within ${STABLE_LEADER_WAIT_MS} ms before the heal`;
    ctx.notJudged(TERM_KEPT, reason);
    ctx.notJudged(NOT_DEPOSED, reason);
    return;
  }
  // §9.6: a node that cannot win a pre-vote does not raise its term, so it cannot disrupt anyone.
  ctx.check(
    TERM_KEPT,
    isolatedTermMax <= before.term,
    `node ${f} reached term ${isolatedTermMax} while isolated; the leader ${before.id} is in term ${before.term}`,
  );
  cluster.healAll(rng.chance(0.5));
  const watchUntil = performance.now() + Math.max(1500, 4 * et);
  const seen: string[] = [];
  let kept = true;
  while (performance.now() < watchUntil) {
    const now = await cluster.statuses();
    for (const [id, s] of now) {
      if (s.term > before.term || (s.role === 'leader' && id !== before.id)) {
        kept = false;
        seen.push(`node ${id}: ${s.role} in term ${s.term}`);
      }
    }
    await sleep(50);
  }
  ctx.check(
    NOT_DEPOSED,
    kept,
    `leader ${before.id} in term ${before.term} when node ${f} rejoined; after: ${[...new Set(seen)].join('; ') || 'unchanged'}`,
  );
}

/** A majority killed with kill -9 (often with the leader), then restarted from their data. */
export const majorityKilled: Scenario = {
  name: 'majority-killed',
  title: 'a majority of the nodes is killed with kill -9 and restarted',
  checks: [],
  async run(ctx) {
    const { cluster, rng } = ctx;
    const n = cluster.nodes.length;
    await repeat(ctx, 1500, async () => {
      const l = await cluster.leader();
      let victims = rng.shuffle(cluster.ids).slice(0, Math.floor(n / 2) + 1);
      if (l !== undefined && rng.chance(0.5) && !victims.includes(l.id))
        victims = [l.id, ...victims.slice(1)];
      await Promise.all(victims.map((id) => cluster.kill9(id)));
      await sleep(rng.between(300, 1500));
      for (const id of victims) cluster.start(id);
      await leaderOrNothing(ctx);
      await sleep(rng.between(300, 800));
      return true;
    });
  },
};

/** Every node killed with kill -9, then all restarted. */
export const allKilled: Scenario = {
  name: 'all-killed',
  title: 'every node is killed with kill -9 and restarted',
  checks: [],
  async run(ctx) {
    const { cluster, rng } = ctx;
    await repeat(ctx, 1500, async () => {
      await sleep(rng.between(200, 700));
      await Promise.all(cluster.ids.map((id) => cluster.kill9(id)));
      await sleep(rng.between(200, 1000));
      for (const id of rng.shuffle(cluster.ids)) cluster.start(id);
      await leaderOrNothing(ctx);
      await sleep(rng.between(300, 800));
      return true;
    });
  },
};

/** Random delay, jitter, stalls and connection resets on random links, changed every ~2 s. */
export const lossySlowLinks: Scenario = {
  name: 'lossy-slow-links',
  title: 'links with delay, jitter, stalls and dropped connections',
  checks: [],
  async run(ctx) {
    const { cluster, rng } = ctx;
    await repeat(ctx, 0, async () => {
      degradeLinks(cluster, rng, ctx.electionTimeoutMs);
      await sleep(rng.between(1500, 2500));
      return true;
    });
    cluster.healAll(true);
  },
};

/** Gives each link, at random, a set of degradations or none. */
export function degradeLinks(cluster: NemesisCluster, rng: Prng, et: number): void {
  const described: string[] = [];
  for (const link of cluster.allLinks()) {
    const faults: LinkFaults = rng.chance(0.6)
      ? {
          delayMs: rng.between(0, 100),
          jitterMs: rng.between(0, 60),
          resetChance: rng.chance(0.4) ? rng.between(1, 20) / 1000 : 0,
          stallChance: rng.chance(0.4) ? rng.between(5, 30) / 1000 : 0,
          stallMs: rng.between(100, 2 * et),
        }
      : HEALTHY;
    link.setFaults(faults);
    if (faults !== HEALTHY) {
      described.push(
        `${link.from}→${link.to} +${faults.delayMs}~${faults.jitterMs}ms reset ${faults.resetChance} stall ${faults.stallChance}×${faults.stallMs}ms`,
      );
    }
  }
  cluster.opts.faults.add('links', described.length === 0 ? 'all healthy' : described.join('; '));
}

/** A follower isolated while the others write and compact past it: it must be sent a snapshot. */
export const snapshotCatchUp: Scenario = {
  name: 'snapshot-catch-up',
  title: 'a follower far behind is caught up by InstallSnapshot after the partition heals',
  checks: [CAUGHT_UP, BY_SNAPSHOT],
  async run(ctx) {
    await repeat(ctx, 4000, async () => {
      const l = await leaderOrNothing(ctx);
      if (l === undefined) return false;
      await catchUpBySnapshot(ctx, l.id);
      await sleep(ctx.rng.between(500, 1500));
      return true;
    });
  },
};

/** How long the snapshot scenario writes, at most, to put the isolated follower far enough behind. */
const FILL_BUDGET_MS = 30_000;

async function catchUpBySnapshot(ctx: ScenarioContext, leaderId: string): Promise<void> {
  const { cluster, rng } = ctx;
  const f = rng.pick(others(cluster, leaderId));
  const logFrom = cluster.logSize(f);
  cluster.partition([[f], others(cluster, f)], pickCutMode(rng), false);
  const behind = (await cluster.status(f))?.appliedIndex ?? 0;
  // Past two snapshots: the leader's log no longer holds what the follower needs next.
  const goal = behind + 2 * ctx.snapshotEntries + 50;
  const filled = await fillUntil(ctx, goal, FILL_BUDGET_MS);
  const target = filled.commitIndex;
  // Held bytes are not delivered: the appends sent into the partition would catch the follower up.
  cluster.healAll(false);
  if (target < goal) {
    const reason =
      `node ${f} was isolated at applied index ${behind}; ${filled.acked} writes acknowledged in ` +
      `${FILL_BUDGET_MS} ms brought the commit index to ${target}, short of ${goal}`;
    ctx.notJudged(CAUGHT_UP, reason);
    ctx.notJudged(BY_SNAPSHOT, reason);
    return;
  }
  const started = performance.now();
  let applied = 0;
  while (performance.now() - started < 15_000) {
    applied = (await cluster.status(f))?.appliedIndex ?? 0;
    if (applied >= target) break;
    await sleep(100);
  }
  ctx.check(
    CAUGHT_UP,
    applied >= target,
    `node ${f} was isolated at applied index ${behind}; ${filled.acked} writes later the commit index was ${target}; ` +
      `it reached ${applied} in ${Math.round(performance.now() - started)} ms after the heal`,
  );
  const received = /received snapshot (\d+)/.exec(cluster.logText(f, logFrom));
  ctx.check(
    BY_SNAPSHOT,
    received !== null,
    received === null
      ? `node ${f}'s log shows no "received snapshot" since it was isolated`
      : `node ${f} received snapshot ${received[1]}`,
  );
}

/**
 * Bulk writes through whoever leads until the leader's commit index reaches `goal`, for at most
 * `budgetMs`; resolves with the commit index last seen (0 if no leader answered) and the writes
 * acknowledged.
 */
async function fillUntil(
  ctx: ScenarioContext,
  goal: number,
  budgetMs: number,
): Promise<{ commitIndex: number; acked: number }> {
  const deadline = performance.now() + budgetMs;
  let commitIndex = 0;
  let acked = 0;
  for (let round = 0; round < FILL_ROUNDS_MAX; round++) {
    const l = await ctx.cluster.leader();
    const status = l === undefined ? undefined : await ctx.cluster.status(l.id);
    commitIndex = Math.max(commitIndex, status?.commitIndex ?? 0);
    const left = deadline - performance.now();
    if (commitIndex >= goal || left <= 0) break;
    if (l === undefined) {
      await sleep(100);
      continue;
    }
    // A few more than needed: the clients' writes also raise the commit index, but not always.
    const got = await ctx.fill(goal - commitIndex + 20, l.id, left);
    acked += got;
    if (got === 0) await sleep(100);
  }
  return { commitIndex, acked };
}

/** Rounds of bulk writes in one {@link fillUntil}, at most (each is bounded in time too). */
const FILL_ROUNDS_MAX = 1000;

/**
 * Leadership handed over again and again (thesis §3.10) while half of the clients talk to the
 * leader — lease reads included — sometimes to a node that is cut off or paused and cannot take it.
 */
export const leaderTransfers: Scenario = {
  name: 'leader-transfers',
  title: 'leadership is handed over again and again, sometimes to a node that cannot take it',
  checks: [TRANSFER_NAMES_TARGET],
  async run(ctx) {
    const outcomes: Record<string, number> = {};
    const named: string[] = [];
    const wrongLeader: string[] = [];
    const tally = (result: TransferResult): void => {
      const status = result.answer.split(' ')[0] ?? '';
      outcomes[status] = (outcomes[status] ?? 0) + 1;
      if (result.named) named.push(result.answer);
      if (result.wrong) wrongLeader.push(result.answer);
    };
    await repeat(ctx, 800, async () => {
      const l = await leaderOrNothing(ctx);
      if (l === undefined) return false;
      tally(await transferOnce(ctx, l.id, true));
      await sleep(ctx.rng.between(300, 1000));
      return true;
    });
    // The check needs a transfer to a named node answered 200: a short run may not have had one.
    const until = performance.now() + PLAIN_TRANSFERS_MS;
    for (let k = 0; k < PLAIN_TRANSFERS_MAX && named.length === 0 && performance.now() < until; k++) {
      const l = await leaderOrNothing(ctx);
      if (l !== undefined) tally(await transferOnce(ctx, l.id, false));
      await sleep(ctx.rng.between(300, 1000));
    }
    ctx.setFocus(undefined);
    ctx.note(`transfer answers by status: ${JSON.stringify(outcomes)}`);
    if (named.length === 0) {
      ctx.notJudged(
        TRANSFER_NAMES_TARGET,
        `no transfer to a named node was answered 200 (answers by status: ${JSON.stringify(outcomes)})`,
      );
      return;
    }
    ctx.check(
      TRANSFER_NAMES_TARGET,
      wrongLeader.length === 0,
      wrongLeader.length === 0
        ? `each of the ${named.length} transfers to a named node answered 200 named it`
        : `answers: ${wrongLeader.join('; ')}`,
    );
  },
};

/** After its rounds, the transfer scenario tries this many unobstructed transfers at most… */
const PLAIN_TRANSFERS_MAX = 10;
/** …for at most this long, until one to a named node succeeds. */
const PLAIN_TRANSFERS_MS = 15_000;

interface TransferResult {
  readonly answer: string;
  /** A 200 to a named node: what the check judges. */
  readonly named: boolean;
  /** …naming another node. */
  readonly wrong: boolean;
}

/**
 * One transfer from `leader`; with `obstacles`, the target is sometimes anyone, or cut off or
 * paused while the transfer runs; without, it is a named node in good health.
 */
async function transferOnce(
  ctx: ScenarioContext,
  leader: string,
  obstacles: boolean,
): Promise<TransferResult> {
  const { cluster, rng } = ctx;
  ctx.setFocus(leader);
  const to = obstacles && rng.chance(0.3) ? undefined : rng.pick(others(cluster, leader));
  const obstacle =
    !obstacles || to === undefined || rng.chance(0.7) ? 'none' : rng.pick(['cut', 'pause'] as const);
  if (to !== undefined && obstacle === 'cut')
    cluster.partition([[to], others(cluster, to)], pickCutMode(rng), false);
  if (to !== undefined && obstacle === 'pause') cluster.pause(to);
  const answer = await cluster.transferLeadership(leader, to);
  if (obstacle === 'cut') cluster.healAll(rng.chance(0.5));
  if (to !== undefined && obstacle === 'pause') cluster.resume(to);
  const leaderNow = /^200 leader (\d+)$/.exec(answer)?.[1];
  const named = leaderNow !== undefined && to !== undefined;
  return { answer, named, wrong: named && leaderNow !== to };
}

/** Every kind of fault at random, overlapping, with the leader targeted often: for long soaks. */
export const mixed: Scenario = {
  name: 'mixed',
  title: 'random faults of every kind, overlapping, the leader targeted often',
  checks: [],
  async run(ctx) {
    const { cluster, rng } = ctx;
    await repeat(ctx, 800, async () => {
      await mixedStep(ctx);
      await sleep(rng.between(400, 1500));
      return true;
    });
    cluster.healAll(true);
  },
};

async function mixedStep(ctx: ScenarioContext): Promise<void> {
  const { cluster, rng, electionTimeoutMs: et } = ctx;
  const l = await cluster.leader();
  const target = l !== undefined && rng.chance(0.5) ? l.id : rng.pick(cluster.ids);
  const down = cluster.nodes.filter((n) => n.child === undefined || n.paused).map((n) => n.id);
  if (down.length > 0 && rng.chance(0.5)) {
    const id = rng.pick(down);
    if (cluster.isRunning(id)) cluster.resume(id);
    else cluster.start(id);
    return;
  }
  switch (rng.nextInt(6)) {
    case 0:
      await cluster.kill9(target);
      return;
    case 4:
      if (l !== undefined) await cluster.transferLeadership(l.id, rng.chance(0.5) ? undefined : target);
      return;
    case 1:
      cluster.pause(target);
      await sleep(rng.between(2 * et, 5 * et));
      if (rng.chance(0.7)) cluster.resume(target);
      return;
    case 2:
      await randomPartition(cluster, rng);
      return;
    case 3:
      degradeLinks(cluster, rng, et);
      return;
    default:
      cluster.healAll(rng.chance(0.5));
  }
}

/** Every scenario, in the order `--scenario all` runs them. */
export const SCENARIOS: readonly Scenario[] = [
  leaderIsolated,
  leaderPaused,
  randomPartitions,
  rejoinAfterIsolation,
  majorityKilled,
  allKilled,
  lossySlowLinks,
  snapshotCatchUp,
  leaderTransfers,
  membershipChurn,
  mixed,
];
