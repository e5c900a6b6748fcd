import type { FaultLog } from './fault-log.js';
import { type NemesisCluster, sleep } from './nemesis-cluster.js';

/** How often the nodes are polled. */
const POLL_MS = 100;

/**
 * Polls every node's /v1/status and adds each new leader (the highest term any node leads in)
 * to the fault log, so that the timeline shows elections next to the faults that caused them.
 */
export class LeaderWatch {
  private stopping = false;
  private running: Promise<void> | undefined;
  private last = '';
  /** New leaders seen, by scenario. */
  readonly elections = new Map<string, number>();

  constructor(
    private readonly cluster: NemesisCluster,
    private readonly log: FaultLog,
  ) {}

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      const all = await this.cluster.statuses();
      let best: { id: string; term: number } | undefined;
      for (const [id, s] of all) {
        if (s.role === 'leader' && (best === undefined || s.term > best.term)) best = { id, term: s.term };
      }
      const now = best === undefined ? '' : `${best.id}@${best.term}`;
      if (best !== undefined && now !== this.last) {
        this.last = now;
        this.log.add('leader', `node ${best.id} leads in term ${best.term}`, true);
        this.elections.set(this.log.scenario, (this.elections.get(this.log.scenario) ?? 0) + 1);
      }
      await sleep(POLL_MS);
    }
  }
}
