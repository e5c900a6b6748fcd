/** Reconnect delays: exponential from `baseMs`, capped at `maxMs`. */
export interface Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
}

export const BACKOFF_DEFAULT: Backoff = { baseMs: 100, maxMs: 5_000 };

/**
 * The delay before reconnect attempt number `failures` (1 after the first failure): the capped
 * exponential `min(maxMs, baseMs · 2^(failures−1))`, of which the upper half is drawn at random
 * ("equal jitter"), so peers that lost each other at the same moment do not retry in lockstep
 * while the delay still grows. `random` returns a number in [0, 1).
 */
export function backoffDelay(failures: number, b: Backoff, random: () => number): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  const cap = Math.min(b.maxMs, b.baseMs * 2 ** exponent);
  return Math.round(cap / 2 + (random() * cap) / 2);
}
