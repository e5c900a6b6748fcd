import type { NodeId } from '../raft/types.js';
import type { Prng } from './prng.js';

/** How the simulated network misbehaves. Delays are in virtual milliseconds. */
export interface NetworkFaults {
  /** Probability that a message is lost. */
  loss: number;
  /** Probability that a delivered message is delivered twice. */
  duplicate: number;
  /** Each copy is delayed uniformly in [delayMin, delayMax]; a wide range reorders messages. */
  delayMin: number;
  delayMax: number;
}

export const CALM: NetworkFaults = { loss: 0, duplicate: 0, delayMin: 1, delayMax: 3 };

/** Per-link partitions plus loss, duplication, reordering and delay, all drawn from one seeded PRNG. */
export class SimNetwork {
  faults: NetworkFaults = { ...CALM };
  /** Directed links that drop everything: "from>to". */
  private readonly blocked = new Set<string>();
  dropped = 0;

  constructor(private readonly rng: Prng) {}

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.blocked.size > 0 && this.blocked.has(`${from}>${to}`);
  }

  /** Delivery delays for one message: none when lost or blocked, two when duplicated. */
  delays(from: NodeId, to: NodeId): number[] {
    if (this.isBlocked(from, to) || (this.faults.loss > 0 && this.rng.chance(this.faults.loss))) {
      this.dropped++;
      return [];
    }
    const { delayMin, delayMax } = this.faults;
    const first = this.rng.between(delayMin, delayMax);
    if (this.faults.duplicate > 0 && this.rng.chance(this.faults.duplicate)) {
      return [first, this.rng.between(delayMin, delayMax)];
    }
    return [first];
  }

  /** Splits the nodes into groups that cannot reach each other (both directions). */
  partition(groups: readonly (readonly NodeId[])[]): void {
    this.blocked.clear();
    for (const g of groups) {
      for (const h of groups) {
        if (g === h) continue;
        for (const a of g) for (const b of h) this.blocked.add(`${a}>${b}`);
      }
    }
  }

  /** Cuts one direction of one link only (an asymmetric partition). */
  cut(from: NodeId, to: NodeId): void {
    this.blocked.add(`${from}>${to}`);
  }

  heal(): void {
    this.blocked.clear();
  }

  describeBlocked(): string[] {
    return [...this.blocked];
  }
}
