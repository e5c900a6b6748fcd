import { InvariantError } from '../raft/assert.js';

/**
 * A 32-bit mix of `x` (splitmix32's finaliser): deterministic pseudo-random words for Zobrist
 * hashing, so that a run is the same every time.
 */
export function mix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) | 0;
}

/**
 * The set of configurations the search has already explored: (set of linearized operations as a
 * bitset, model state id). Reaching a configuration twice cannot lead anywhere new, which is what
 * makes the Wing–Gong search practical (Lowe, "Testing for linearizability", 2017).
 *
 * Entries live in flat typed arrays chained by hash; the caller keeps the bitset's Zobrist hash up to
 * date incrementally, so adding costs one hash lookup plus a word compare per colliding entry.
 */
export class ConfigurationCache {
  private readonly wordsPer: number;
  private capacity = 1024;
  private words: Uint32Array;
  private states: Int32Array;
  private chain: Int32Array;
  private readonly heads = new Map<number, number>();
  /** Number of stored configurations. */
  size = 0;

  constructor(readonly operationCount: number) {
    this.wordsPer = Math.max(1, Math.ceil(operationCount / 32));
    this.words = new Uint32Array(this.capacity * this.wordsPer);
    this.states = new Int32Array(this.capacity);
    this.chain = new Int32Array(this.capacity);
  }

  /**
   * Adds the configuration and returns true, or returns false when it was already there.
   * `bitsHash` is the XOR of the Zobrist words of the operations set in `bits`.
   */
  add(bits: Uint32Array, bitsHash: number, stateId: number): boolean {
    if (bits.length !== this.wordsPer) {
      throw new InvariantError(`cache: bitset has ${bits.length} words, expected ${this.wordsPer}`);
    }
    const hash = (bitsHash ^ Math.imul(stateId + 1, 0x27d4eb2d)) | 0;
    const first = this.heads.get(hash);
    for (let at = first ?? -1; at !== -1; at = this.chain[at] ?? -1) {
      if (this.states[at] === stateId && this.sameBits(at, bits)) return false;
    }
    if (this.size === this.capacity) this.grow();
    const at = this.size++;
    this.words.set(bits, at * this.wordsPer);
    this.states[at] = stateId;
    this.chain[at] = first ?? -1;
    this.heads.set(hash, at);
    return true;
  }

  private sameBits(at: number, bits: Uint32Array): boolean {
    const base = at * this.wordsPer;
    for (let w = 0; w < this.wordsPer; w++) {
      if (this.words[base + w] !== bits[w]) return false;
    }
    return true;
  }

  private grow(): void {
    this.capacity *= 2;
    const words = new Uint32Array(this.capacity * this.wordsPer);
    words.set(this.words);
    this.words = words;
    const states = new Int32Array(this.capacity);
    states.set(this.states);
    this.states = states;
    const chain = new Int32Array(this.capacity);
    chain.set(this.chain);
    this.chain = chain;
  }
}
