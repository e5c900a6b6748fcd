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
} from './scenario.js';

/** The leader cut off in a minority while half of the clients talk to it; then healed. */
export const leaderIsolated: Scenario = {
  name: 'leader-isolated',
  title: 'the leader is cut off in a minority while clients read from it and write through it',
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
        'an isolated leader steps down',
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
  async run(ctx) {
    await repeat(ctx, 3500, async () => {
      const l = await leaderOrNothing(ctx);
      if (l === undefined) return false;
      await isolateAndRejoin(ctx, l);
      return true;
    });
  },
};

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
  const before = await cluster.leader();
  if (before === undefined) {
    cluster.healAll(false);
    ctx.note(`rejoin: no stable leader just before node ${f} rejoined; not judged`);
    return;
  }
  // §9.6: a node that cannot win a pre-vote does not raise its term, so it cannot disrupt anyone.
  ctx.check(
    'an isolated node does not raise its term',
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
    'the rejoining node does not depose the leader',
    kept,
    `leader ${before.id} in term ${before.term} when node ${f} rejoined; after: ${[...new Set(seen)].join('; ') || 'unchanged'}`,
  );
}

/** A majority killed with kill -9 (often with the leader), then restarted from their data. */
export const majorityKilled: Scenario = {
  name: 'majority-killed',
  title: 'a majority of the nodes is killed with kill -9 and restarted',
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

async function catchUpBySnapshot(ctx: ScenarioContext, leaderId: string): Promise<void> {
  const { cluster, rng } = ctx;
  const f = rng.pick(others(cluster, leaderId));
  const logFrom = cluster.logSize(f);
  cluster.partition([[f], others(cluster, f)], pickCutMode(rng), false);
  const behind = (await cluster.status(f))?.appliedIndex ?? 0;
  // Past two snapshots: the leader's log no longer holds what the follower needs next.
  const acked = await ctx.fill(2 * ctx.snapshotEntries + 50, leaderId, 15_000);
  const l = await cluster.leader();
  const target = l === undefined ? undefined : (await cluster.status(l.id))?.commitIndex;
  // Held bytes are not delivered: the appends sent into the partition would catch the follower up.
  cluster.healAll(false);
  if (target === undefined || target - behind <= ctx.snapshotEntries) {
    ctx.note(
      `snapshot: only ${acked} writes acknowledged (commit ${target}), node ${f} was not far enough behind`,
    );
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
    'a follower far behind catches up',
    applied >= target,
    `node ${f} was isolated at applied index ${behind}; ${acked} writes later the commit index was ${target}; ` +
      `it reached ${applied} in ${Math.round(performance.now() - started)} ms after the heal`,
  );
  const received = /received snapshot (\d+)/.exec(cluster.logText(f, logFrom));
  ctx.check(
    'it was caught up by a snapshot',
    received !== null,
    received === null
      ? `node ${f}'s log shows no "received snapshot" since it was isolated`
      : `node ${f} received snapshot ${received[1]}`,
  );
}

/**
 * Leadership handed over again and again (thesis §3.10) while half of the clients talk to the
 * leader — lease reads included — sometimes to a node that is cut off or paused and cannot take it.
 */
export const leaderTransfers: Scenario = {
  name: 'leader-transfers',
  title: 'leadership is handed over again and again, sometimes to a node that cannot take it',
  async run(ctx) {
    const outcomes: Record<string, number> = {};
    const wrongLeader: string[] = [];
    await repeat(ctx, 800, async () => {
      const l = await leaderOrNothing(ctx);
      if (l === undefined) return false;
      const result = await transferOnce(ctx, l.id);
      const status = result.answer.split(' ')[0] ?? '';
      outcomes[status] = (outcomes[status] ?? 0) + 1;
      if (result.wrong) wrongLeader.push(result.answer);
      await sleep(ctx.rng.between(300, 1000));
      return true;
    });
    ctx.setFocus(undefined);
    ctx.note(`transfer answers by status: ${JSON.stringify(outcomes)}`);
    ctx.check(
      'a transfer that succeeds names the node asked for',
      wrongLeader.length === 0,
      wrongLeader.length === 0 ? 'every 200 named its target' : `answers: ${wrongLeader.join('; ')}`,
    );
  },
};

/** One transfer from `leader`; the target is sometimes cut off or paused while it runs. */
async function transferOnce(
  ctx: ScenarioContext,
  leader: string,
): Promise<{ answer: string; wrong: boolean }> {
  const { cluster, rng } = ctx;
  ctx.setFocus(leader);
  const to = rng.chance(0.3) ? undefined : rng.pick(others(cluster, leader));
  const obstacle = to === undefined || rng.chance(0.7) ? 'none' : rng.pick(['cut', 'pause'] as const);
  if (to !== undefined && obstacle === 'cut')
    cluster.partition([[to], others(cluster, to)], pickCutMode(rng), false);
  if (to !== undefined && obstacle === 'pause') cluster.pause(to);
  const answer = await cluster.transferLeadership(leader, to);
  if (obstacle === 'cut') cluster.healAll(rng.chance(0.5));
  if (to !== undefined && obstacle === 'pause') cluster.resume(to);
  const named = /^200 leader (\d+)$/.exec(answer)?.[1];
  return { answer, wrong: named !== undefined && to !== undefined && named !== to };
}

/** Every kind of fault at random, overlapping, with the leader targeted often: for long soaks. */
export const mixed: Scenario = {
  name: 'mixed',
  title: 'random faults of every kind, overlapping, the leader targeted often',
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
