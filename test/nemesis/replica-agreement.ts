import { type NemesisCluster, type NodeStatusJson, sleep } from './nemesis-cluster.js';

/** What every node's state machine holds under a prefix, read locally (`consistency=stale`). */
export interface ReplicaState {
  readonly node: string;
  readonly appliedIndex: number;
  readonly revision: number;
  readonly items: ReadonlyMap<string, string>;
  /** More keys than one range read returns; only the first ones were compared. */
  readonly more: boolean;
}

/** Whether the replicas converged to one state, with the evidence. */
export interface Agreement {
  readonly agree: boolean;
  /** The nodes reached one applied index and hold different data there: a safety violation. */
  readonly diverged: boolean;
  readonly detail: string;
  /** The state every node holds (the first node's), when they agree. */
  readonly state: ReplicaState | undefined;
}

const RANGE_LIMIT = 10_000;

interface RangeJson {
  readonly items: { key: string; value: string; modRevision: number }[];
  readonly revision: number;
  readonly more: boolean;
}

async function readRange(base: string, prefix: string): Promise<RangeJson> {
  const query = `prefix=${encodeURIComponent(prefix)}&limit=${RANGE_LIMIT}&consistency=stale`;
  const r = await fetch(`${base}/v1/kv?${query}`, { signal: AbortSignal.timeout(3000) });
  if (!r.ok) throw new Error(`range ${prefix}: HTTP ${r.status}`);
  return (await r.json()) as RangeJson;
}

/** What one node holds under `prefixes`, or undefined when it applied something meanwhile. */
async function readLocal(
  cluster: NemesisCluster,
  id: string,
  prefixes: readonly string[],
): Promise<ReplicaState | undefined> {
  const before = await cluster.status(id, 2000);
  try {
    const items = new Map<string, string>();
    let more = false;
    let revision = 0;
    for (const prefix of prefixes) {
      const body = await readRange(cluster.node(id).clientUrl, prefix);
      for (const i of body.items) items.set(i.key, `${i.value}@${i.modRevision}`);
      more ||= body.more;
      revision = body.revision;
    }
    const after = await cluster.status(id, 2000);
    // Only reads taken while nothing was applied show the state at one applied index.
    if (before === undefined || after === undefined || before.appliedIndex !== after.appliedIndex)
      return undefined;
    return { node: id, appliedIndex: after.appliedIndex, revision, items, more };
  } catch {
    return undefined;
  }
}

/** Every node answers and all have applied the same index, which is the commit index. */
function converged(all: ReadonlyMap<string, NodeStatusJson>, n: number): boolean {
  if (all.size !== n) return false;
  const first = [...all.values()][0]!;
  return [...all.values()].every(
    (s) => s.appliedIndex === first.appliedIndex && s.commitIndex === first.appliedIndex,
  );
}

/**
 * Waits until every node has applied the same index, then compares what their state machines hold
 * under `prefixes` (each read at most 10,000 keys): same keys, values, modRevisions and store
 * revision. A difference at one applied index means the replicas diverged.
 */
export async function checkReplicasAgree(
  cluster: NemesisCluster,
  prefixes: readonly string[],
  deadline: number,
): Promise<Agreement> {
  let last = '';
  while (performance.now() < deadline) {
    const all = await cluster.statuses();
    last = [...all].map(([id, s]) => `${id}: applied ${s.appliedIndex} commit ${s.commitIndex}`).join(', ');
    if (converged(all, cluster.nodes.length)) {
      const states = await Promise.all(cluster.ids.map((id) => readLocal(cluster, id, prefixes)));
      const got = states.filter((s): s is ReplicaState => s !== undefined);
      if (got.length === cluster.nodes.length && got.every((s) => s.appliedIndex === got[0]!.appliedIndex)) {
        return compare(got);
      }
    }
    await sleep(150);
  }
  return {
    agree: false,
    diverged: false,
    detail: `the nodes did not converge to one applied index (${last})`,
    state: undefined,
  };
}

function compare(states: readonly ReplicaState[]): Agreement {
  const first = states[0]!;
  for (const s of states.slice(1)) {
    if (s.revision !== first.revision) {
      return {
        agree: false,
        diverged: true,
        detail: `at applied index ${s.appliedIndex} node ${first.node} has store revision ${first.revision} and node ${s.node} ${s.revision}`,
        state: undefined,
      };
    }
    const keys = new Set([...first.items.keys(), ...s.items.keys()]);
    for (const k of keys) {
      if (first.items.get(k) !== s.items.get(k)) {
        return {
          agree: false,
          diverged: true,
          detail: `at applied index ${s.appliedIndex} key ${JSON.stringify(k)} is ${first.items.get(k) ?? 'absent'} on node ${first.node} and ${s.items.get(k) ?? 'absent'} on node ${s.node}`,
          state: undefined,
        };
      }
    }
  }
  return {
    agree: true,
    diverged: false,
    detail: `${states.length} nodes at applied index ${first.appliedIndex}, store revision ${first.revision}, ${first.items.size} keys${first.more ? ' (some prefix had more than 10000: not all compared)' : ''}`,
    state: first,
  };
}
