import { type NemesisCluster, sleep } from './nemesis-cluster.js';

/** How a recovery went. */
export interface Recovery {
  readonly ok: boolean;
  readonly ms: number;
  readonly detail: string;
}

/**
 * Heals every link, resumes paused nodes and restarts killed ones, then waits until every node
 * answers and names the same leader in the same term.
 */
export async function recover(cluster: NemesisCluster, flush: boolean, timeoutMs: number): Promise<Recovery> {
  const started = performance.now();
  cluster.healAll(flush);
  for (const n of cluster.nodes) {
    if (n.child === undefined) cluster.start(n.id);
    else if (n.paused) cluster.resume(n.id);
  }
  let detail = '';
  while (performance.now() - started < timeoutMs) {
    const all = await cluster.statuses();
    const leaders = new Set([...all.values()].map((s) => `${s.leader}@${s.term}`));
    detail = [...all].map(([id, s]) => `${id}: ${s.role} t${s.term} leader ${s.leader}`).join(', ');
    const [only] = leaders;
    if (all.size === cluster.nodes.length && leaders.size === 1 && !only?.startsWith('null')) {
      return { ok: true, ms: performance.now() - started, detail: `leader ${only}` };
    }
    await sleep(100);
  }
  return {
    ok: false,
    ms: performance.now() - started,
    detail: `no agreed leader: ${detail || 'no node answers'}`,
  };
}
