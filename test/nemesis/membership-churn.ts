import type { MembersJson } from '../../src/client/client.js';
import type { Prng } from '../../src/sim/prng.js';
import type { CutMode } from './link-proxy.js';
import { type NemesisCluster, sleep } from './nemesis-cluster.js';
import {
  leaderOrNothing,
  others,
  pickCutMode,
  repeat,
  type Scenario,
  type ScenarioContext,
} from './scenario.js';

/** How long one removal may take to be confirmed, retries included. */
const REMOVE_BUDGET_MS = 15_000;
/** How long a fresh node may take from `serve --join` to being a voter. */
const JOIN_BUDGET_MS = 20_000;
/** How long the end of the scenario may take to bring every node back as a voter. */
const SETTLE_BUDGET_MS = 30_000;

// The checks the scenario judges besides linearizability.
const REJOINS = 'a voter is removed, wiped, joins again and becomes a voter';
const ALL_VOTERS = 'every node is a voter at the end';

/** Another fault during a change: what, on which node, in which phase of the round, how long. */
interface Extra {
  readonly what: 'kill' | 'pause' | 'partition';
  readonly node: string;
  readonly during: 'removal' | 'catch-up';
  /** From the start of its phase to the fault. */
  readonly delayMs: number;
  /** Down, paused or cut off this long. */
  readonly heldMs: number;
  readonly mode: CutMode;
  /** Whether the heal delivers the bytes a blackhole held. */
  readonly flush: boolean;
}

/** What one round did. */
interface Round {
  readonly victim: string;
  readonly wasLeader: boolean;
  /** `remove`: removed while running, then killed; `kill`: killed, then removed as a dead voter. */
  readonly order: 'remove' | 'kill';
  readonly extra: Extra | undefined;
  /** How long it is left running once removed, serving clients, before it is killed (0: not). */
  readonly keepMs: number;
  /** The client URLs its `--join` names, in order. */
  readonly joinVia: readonly string[];
  /** Picks the node each DELETE is asked at: a stream of its own, as their number depends on timing. */
  readonly viaRng: Prng;
  /** The answers to DELETE /v1/members/{victim}, e.g. `200 via 3`. */
  readonly answers: string[];
  removeMs: number;
  /** From `serve --join` to its client port answering (the join's POST has been answered). */
  servingMs: number;
  /** From `serve --join` to a voter in the leader's configuration. */
  joinMs: number;
  outcome: 'voter' | 'not removed' | 'not a voter in time' | 'join process exited';
  bySnapshot: boolean;
}

/**
 * Membership changes while the clients run: a voter — the leader 40 % of the time — is removed
 * and killed (or killed, then removed as a dead voter), its data folder is wiped, and it comes back under the same id as a fresh node with `serve --join` and an empty folder: a
 * learner that catches up (by snapshot: the leader compacts every `snapshot-entries`) and is
 * promoted. Half of the rounds add a kill -9, a pause or a partition of another node while the
 * removal or the catch-up is under way. Half of the clients talk to the returning node meanwhile:
 * it must not answer from its empty store. The scenario ends with every node a voter again.
 */
export const membershipChurn: Scenario = {
  name: 'membership-churn',
  title: 'voters are removed, wiped and join again as fresh nodes, the leader among them',
  checks: [REJOINS, ALL_VOTERS],
  async run(ctx) {
    const rounds: Round[] = [];
    await repeat(ctx, 2500, async () => {
      // A round that went wrong (a join that failed) is repaired first: removing a voter while
      // another is missing would only wait for a quorum that is not there.
      const before = await settleAllVoters(ctx);
      if (!before.ok) ctx.note(`churn: before a round: ${before.detail}`);
      const l = await leaderOrNothing(ctx);
      if (!before.ok || l === undefined) return false;
      const round = planRound(ctx, l.id);
      rounds.push(round);
      await churnOnce(ctx, round);
      await sleep(ctx.rng.between(200, 600));
      return true;
    });
    ctx.setFocus(undefined);
    for (const r of rounds) ctx.note(`churn: ${describeRound(r)}`);
    const done = rounds.filter((r) => r.outcome === 'voter');
    ctx.note(
      `churn: ${rounds.length} rounds, ${done.length} nodes removed, wiped and back as voters ` +
        `(${done.filter((r) => r.wasLeader).length} of them the leader, ` +
        `${done.filter((r) => r.bySnapshot).length} caught up by snapshot)`,
    );
    // Every round starts from N voters and a leader, and its other fault lasts under two seconds:
    // a removal not done in 15 s, or a join not done in 20 s, is stuck.
    const stuck = rounds.filter((r) => r.outcome !== 'voter');
    if (rounds.length === 0) ctx.notJudged(REJOINS, 'no round could start (see the notes)');
    else
      ctx.check(
        REJOINS,
        stuck.length === 0,
        stuck.length === 0
          ? `${done.length} of ${rounds.length} rounds; join → voter in ${done.map((r) => Math.round(r.joinMs)).join(', ')} ms`
          : stuck.map(describeRound).join('; '),
      );
    const settled = await settleAllVoters(ctx);
    ctx.check(ALL_VOTERS, settled.ok, settled.detail);
  },
};

function describeRound(r: Round): string {
  const how = r.order === 'remove' ? 'removed, killed' : 'killed, removed';
  const kept =
    r.keepMs > 0 && r.outcome !== 'not removed' ? ` (left running ${Math.round(r.keepMs)} ms)` : '';
  const extra = r.extra === undefined ? '' : `, ${r.extra.what} ${r.extra.node} during ${r.extra.during}`;
  const joined =
    r.outcome === 'voter'
      ? `, --join → serving ${Math.round(r.servingMs)} ms → voter ${Math.round(r.joinMs)} ms${r.bySnapshot ? ' (by snapshot)' : ''}`
      : '';
  return (
    `node ${r.victim}${r.wasLeader ? ' (leader)' : ''} ${how}${kept}${extra}: ${r.outcome}; ` +
    `removal ${Math.round(r.removeMs)} ms [${runs(r.answers).join(', ')}]${joined}`
  );
}

/** `a, a, a, b` as `a ×3, b`. */
function runs(items: readonly string[]): string[] {
  const out: string[] = [];
  for (let k = 0; k < items.length; ) {
    let n = 1;
    while (items[k + n] === items[k]) n++;
    out.push(n === 1 ? items[k]! : `${items[k]} ×${n}`);
    k += n;
  }
  return out;
}

/** The decisions of one round, all drawn before it starts: same seed, same decisions. */
function planRound(ctx: ScenarioContext, leader: string): Round {
  const { cluster, rng, electionTimeoutMs: et } = ctx;
  const victim = rng.chance(0.4) ? leader : rng.pick(others(cluster, leader));
  const extra: Extra | undefined = rng.chance(0.5)
    ? {
        what: rng.pick(['kill', 'pause', 'partition'] as const),
        node: rng.pick(others(cluster, victim)),
        during: rng.chance(0.5) ? 'removal' : 'catch-up',
        delayMs: rng.between(0, 100),
        heldMs: rng.between(2 * et, 4 * et),
        mode: pickCutMode(rng),
        flush: rng.chance(0.5),
      }
    : undefined;
  return {
    victim,
    wasLeader: victim === leader,
    order: rng.chance(0.3) ? 'kill' : 'remove',
    extra,
    // Sometimes left running a while: a removed server must not disrupt the cluster (§4.2.3),
    // and clients that ask it must not get stale answers.
    keepMs: rng.chance(0.3) ? rng.between(et, 3 * et) : 0,
    joinVia: rng.shuffle(others(cluster, victim)).map((id) => cluster.node(id).clientUrl),
    viaRng: rng.fork(),
    answers: [],
    removeMs: 0,
    servingMs: 0,
    joinMs: 0,
    outcome: 'not removed',
    bySnapshot: false,
  };
}

/** One removal, wipe and rejoin of a voter. */
async function churnOnce(ctx: ScenarioContext, round: Round): Promise<void> {
  const { cluster } = ctx;
  const { victim, extra } = round;
  const started = performance.now();
  if (round.order === 'kill') await cluster.kill9(victim);
  const during = extra?.during === 'removal' ? injectExtra(cluster, extra) : Promise.resolve();
  const removed = await removeUntilGone(cluster, round);
  await during;
  round.removeMs = performance.now() - started;
  if (!removed) {
    // Not removed in time: it stays a voter with its data; the next round, or the end of the
    // scenario, sorts it out.
    cluster.start(victim);
    return;
  }
  if (cluster.isRunning(victim) && round.keepMs > 0) {
    ctx.setFocus(victim);
    await sleep(round.keepMs);
  }
  await cluster.kill9(victim);
  await rejoin(ctx, round);
}

/** Wipes the removed node and starts it with `--join`; waits until it is a voter. */
async function rejoin(ctx: ScenarioContext, round: Round): Promise<void> {
  const { cluster } = ctx;
  const v = round.victim;
  cluster.wipe(v);
  const logFrom = cluster.logSize(v);
  const joinStarted = performance.now();
  cluster.join(v, round.joinVia);
  let during: Promise<void> | undefined;
  let serving = false;
  const deadline = joinStarted + JOIN_BUDGET_MS;
  for (;;) {
    // It serves clients once the cluster has added it as a learner: from then on, half of the
    // clients talk to it while it catches up.
    if (!serving && (await cluster.status(v, 200)) !== undefined) {
      serving = true;
      round.servingMs = performance.now() - joinStarted;
      ctx.setFocus(v);
    }
    const view = await leaderView(cluster);
    const me = view?.members.find((m) => String(m.id) === v);
    // Once it is a learner: the fault hits while it catches up and asks to be promoted.
    if (round.extra?.during === 'catch-up' && me !== undefined && during === undefined)
      during = injectExtra(cluster, round.extra);
    if (view !== undefined && me !== undefined && !me.learner && !view.joint) {
      round.outcome = 'voter';
      break;
    }
    if (!cluster.isRunning(v)) {
      round.outcome = 'join process exited';
      break;
    }
    if (performance.now() > deadline) {
      round.outcome = 'not a voter in time';
      break;
    }
    await sleep(50);
  }
  round.joinMs = performance.now() - joinStarted;
  await (during ?? Promise.resolve());
  round.bySnapshot = /received snapshot/.test(cluster.logText(v, logFrom));
  cluster.opts.faults.add(
    'member',
    `node ${v}: ${round.outcome} ${Math.round(round.joinMs)} ms after --join`,
  );
  await sleep(300);
  ctx.setFocus(undefined);
}

/**
 * Asks for `v`'s removal, through a random running node, until it is certainly out: answered 200
 * (the change and its C(new) committed), or every other node's configuration — the leader's and
 * the followers', committed or not — names it no more and is not joint. That configuration is
 * C(new), appended only once C(old,new) committed, and held by every voter of C(new): whoever
 * leads next has it. Only then may its data go. Resolves false if that is not reached in time.
 */
async function removeUntilGone(cluster: NemesisCluster, round: Round): Promise<boolean> {
  const v = round.victim;
  const deadline = performance.now() + REMOVE_BUDGET_MS;
  while (performance.now() < deadline) {
    if (await goneEverywhere(cluster, v)) return true;
    const up = cluster.nodes.filter((n) => n.child !== undefined && !n.paused).map((n) => n.id);
    if (up.length === 0) {
      await sleep(200);
      continue;
    }
    const via = round.viaRng.pick(up);
    const answer = await askRemove(cluster, via, v);
    round.answers.push(`${answer} via ${via}`);
    if (answer.startsWith('200')) return true;
    await sleep(answer.startsWith('409') || answer.startsWith('503') ? 100 : 250);
  }
  return goneEverywhere(cluster, v);
}

/** Every node but `v` answers and lists a configuration without `v` that is not joint. */
async function goneEverywhere(cluster: NemesisCluster, v: string): Promise<boolean> {
  const views = await Promise.all(others(cluster, v).map((id) => membersAt(cluster, id)));
  return views.every((m) => m !== undefined && !m.joint && !m.members.some((x) => String(x.id) === v));
}

/** `DELETE /v1/members/{v}` at node `via`: `200`, `409 ERR_CONF_CHANGE_IN_PROGRESS`, `no answer (…)`. */
async function askRemove(cluster: NemesisCluster, via: string, v: string): Promise<string> {
  cluster.opts.faults.add('member', `remove node ${v} (asked at node ${via})`);
  let answer: string;
  try {
    const r = await fetch(`${cluster.node(via).clientUrl}/v1/members/${v}`, {
      method: 'DELETE',
      signal: AbortSignal.timeout(6000),
    });
    const code = /"code":"(\w+)"/.exec(await r.text())?.[1];
    answer = r.ok ? '200' : `${r.status} ${code ?? ''}`.trim();
  } catch (err) {
    answer = `no answer (${(err as Error).name})`;
  }
  cluster.opts.faults.add('member', `remove node ${v} at node ${via}: ${answer}`, true);
  return answer;
}

/** A node's configuration (its latest, committed or not), or undefined when it does not answer. */
async function membersAt(cluster: NemesisCluster, id: string): Promise<MembersJson | undefined> {
  const n = cluster.node(id);
  if (n.child === undefined || n.paused) return undefined;
  try {
    const r = await fetch(`${n.clientUrl}/v1/members`, { signal: AbortSignal.timeout(1000) });
    return r.ok ? ((await r.json()) as MembersJson) : undefined;
  } catch {
    // Down, paused, cut off or too slow: no configuration to go by.
    return undefined;
  }
}

/** The configuration as the leader a majority follows has it. */
async function leaderView(cluster: NemesisCluster): Promise<MembersJson | undefined> {
  const l = await cluster.leader();
  return l === undefined ? undefined : membersAt(cluster, l.id);
}

/** Runs another fault on `extra.node` and undoes it: restart, resume or heal. */
async function injectExtra(cluster: NemesisCluster, extra: Extra): Promise<void> {
  const w = extra.node;
  await sleep(extra.delayMs);
  switch (extra.what) {
    case 'kill':
      await cluster.kill9(w);
      await sleep(extra.heldMs / 2);
      cluster.start(w);
      return;
    case 'pause':
      cluster.pause(w);
      await sleep(extra.heldMs);
      cluster.resume(w);
      return;
    case 'partition':
      cluster.partition([[w], others(cluster, w)], extra.mode, false);
      await sleep(extra.heldMs);
      cluster.healAll(extra.flush);
      return;
  }
}

/**
 * Brings every node back as a voter, whatever an unfinished round left: a stopped member is
 * started, a node certainly removed is wiped and joins again, a learner is waited for.
 */
async function settleAllVoters(ctx: ScenarioContext): Promise<{ ok: boolean; detail: string }> {
  const { cluster } = ctx;
  const started = performance.now();
  const rejoined = new Map<string, number>();
  let detail = '';
  while (performance.now() - started < SETTLE_BUDGET_MS) {
    const view = await leaderView(cluster);
    if (view !== undefined) {
      const voters = view.members.filter((m) => !m.learner).map((m) => String(m.id));
      const learners = view.members.filter((m) => m.learner).map((m) => String(m.id));
      detail = `leader ${view.leader}: voters ${voters.join(',')}${view.joint ? ' (joint)' : ''}; learners ${learners.join(',') || 'none'}`;
      if (!view.joint && cluster.ids.every((id) => voters.includes(id))) {
        return {
          ok: true,
          detail: `${detail}, ${Math.round(performance.now() - started)} ms`,
        };
      }
      for (const id of cluster.ids) {
        if (view.members.some((m) => String(m.id) === id)) {
          cluster.start(id);
          continue;
        }
        // A node that joins anew gets the time a join may take before it is tried again.
        const since = rejoined.get(id);
        if (since !== undefined && performance.now() - since < JOIN_BUDGET_MS) continue;
        if (!(await goneEverywhere(cluster, id))) continue;
        await cluster.kill9(id);
        cluster.wipe(id);
        cluster.join(
          id,
          others(cluster, id).map((x) => cluster.node(x).clientUrl),
        );
        rejoined.set(id, performance.now());
      }
    }
    await sleep(200);
  }
  return {
    ok: false,
    detail: `not every node a voter ${SETTLE_BUDGET_MS} ms: ${detail || 'no leader'}`,
  };
}
