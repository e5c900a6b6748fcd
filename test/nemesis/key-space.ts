/** When a key is retired for a fresh one: after this many operations... */
export const KEY_OPS_MAX = 150;
/** ...or this many writes of unknown outcome, which the checker may place anywhere after their call. */
export const KEY_UNKNOWN_WRITES_MAX = 8;

interface Slot {
  key: string;
  generation: number;
  ops: number;
  unknownWrites: number;
}

/**
 * The keys one scenario's clients use: a few slots, so that operations collide, each holding one
 * key at a time. A key is retired for a fresh one once it has seen {@link KEY_OPS_MAX} operations
 * or {@link KEY_UNKNOWN_WRITES_MAX} writes of unknown outcome: the checker's search grows
 * exponentially with the operations of one key that may still take effect, and not at all with
 * the number of keys. Keys look like `leader-paused/k3.0`.
 */
export class KeySpace {
  private readonly slots: Slot[];
  private readonly retired: string[] = [];

  constructor(
    readonly prefix: string,
    slots: number,
    private readonly opsMax = KEY_OPS_MAX,
    private readonly unknownWritesMax = KEY_UNKNOWN_WRITES_MAX,
  ) {
    this.slots = Array.from({ length: slots }, (_, i) => ({
      key: `${prefix}/k${i}.0`,
      generation: 0,
      ops: 0,
      unknownWrites: 0,
    }));
  }

  /** The keys in use now. */
  current(): readonly string[] {
    return this.slots.map((s) => s.key);
  }

  /** Counts an operation on `key`; retires the key when it has seen enough. */
  count(key: string, unknownWrite: boolean): void {
    const slot = this.slots.find((s) => s.key === key);
    if (slot === undefined) return;
    slot.ops++;
    if (unknownWrite) slot.unknownWrites++;
    if (slot.ops < this.opsMax && slot.unknownWrites < this.unknownWritesMax) return;
    this.retired.push(slot.key);
    slot.generation++;
    slot.key = `${this.prefix}/k${this.slots.indexOf(slot)}.${slot.generation}`;
    slot.ops = 0;
    slot.unknownWrites = 0;
  }

  /** Every key handed out so far. */
  all(): string[] {
    return [...this.retired, ...this.current()];
  }

  /** Whether `key` belongs to this space. */
  owns(key: string): boolean {
    return key.startsWith(`${this.prefix}/`);
  }
}
