import type { Scalar } from '../../src/check/index.js';
import type { HistoryRecorder } from './history-recorder.js';
import { classify, sendKv } from './kv-http.js';
import { type NemesisCluster, sleep } from './nemesis-cluster.js';

/** What the final reads found. */
export interface FinalReads {
  /** The last value read of each key (`null` = absent); keys never read are missing. */
  readonly values: Map<string, Scalar>;
  /** `key@node` for every read that did not succeed before the deadline. */
  readonly unread: string[];
  /** The processes that did the final reads (one per node). */
  readonly processes: Set<number>;
}

/**
 * Reads every key through every node with linearizable gets, recorded in the history like any
 * client operation (so the checker judges them too), retrying each until it succeeds or
 * `deadline` (performance.now()) passes.
 */
export async function readEverything(
  cluster: NemesisCluster,
  recorder: HistoryRecorder,
  keys: readonly string[],
  deadline: number,
  timeoutMs: number,
): Promise<FinalReads> {
  const values = new Map<string, Scalar>();
  const unread: string[] = [];
  const processes = new Set<number>();
  for (const node of cluster.nodes) {
    let process = recorder.newProcess();
    processes.add(process);
    for (const key of keys) {
      let done = false;
      while (!done && performance.now() < deadline) {
        const op = recorder.invoke(process, 'get', key, { node: node.id });
        const timeout = Math.max(100, Math.min(timeoutMs, deadline - performance.now()));
        const result = classify('get', await sendKv(node.clientUrl, { f: 'get', key }, timeout));
        if (result.type === 'ok') {
          recorder.ok(op, result.value);
          values.set(key, result.value);
          done = true;
        } else if (result.type === 'fail') {
          recorder.fail(op, result.reason);
          await sleep(100);
        } else {
          recorder.info(op, result.type === 'info' ? result.reason : result.type);
          process = recorder.newProcess();
          processes.add(process);
          await sleep(100);
        }
      }
      if (!done) unread.push(`${key}@${node.id}`);
    }
  }
  return { values, unread, processes };
}
