import { classify, sendKv } from './kv-http.js';

/** Concurrent writers of one bulk write. */
const WRITERS = 16;

/** Bulk writes of fresh keys (for the snapshot scenario); the acknowledged ones are checked at the end. */
export class Filler {
  readonly acked = new Map<string, string>();
  private next = 0;
  private rounds = 0;

  constructor(
    private readonly prefix: string,
    private readonly nextValue: () => string,
  ) {}

  /** Writes up to `count` fresh keys through `url` within `budgetMs`; resolves with how many were acked. */
  async run(url: string, count: number, budgetMs: number, timeoutMs: number): Promise<number> {
    const until = performance.now() + budgetMs;
    const round = this.rounds++;
    const goal = this.next + count;
    const before = this.acked.size;
    const writer = async () => {
      while (this.next < goal && performance.now() < until) {
        const key = `${this.prefix}/fill/r${round}/${this.next++}`;
        const value = this.nextValue();
        const result = classify('put', await sendKv(url, { f: 'put', key, value }, timeoutMs));
        if (result.type === 'ok') this.acked.set(key, value);
      }
    };
    await Promise.all(Array.from({ length: WRITERS }, writer));
    return this.acked.size - before;
  }

  /** Prefixes that hold the bulk writes, each with fewer keys than one range read returns. */
  prefixes(): string[] {
    return Array.from({ length: this.rounds }, (_, r) => `${this.prefix}/fill/r${r}/`);
  }

  /** Acknowledged keys the converged store lacks (or holds with another value). */
  missingFrom(items: ReadonlyMap<string, string>): string[] {
    const missing: string[] = [];
    for (const [key, value] of this.acked) {
      if (!items.get(key)?.startsWith(`${value}@`))
        missing.push(`${key}=${value} (has ${items.get(key) ?? 'nothing'})`);
    }
    return missing;
  }
}
