/**
 * A steady write load for tests on real processes: one closed-loop writer cycling over `keys`
 * keys under `prefix`, remembering each key's last acknowledged value and the longest gap between
 * two acknowledgements (a write pause). `put` is looked up per write, so a test may swap clients.
 */
export function writeLoad(
  put: () => (key: string, value: string) => Promise<unknown>,
  prefix: string,
  keys = 50,
) {
  const acked = new Map<string, string>();
  let writes = 0;
  let stopped = false;
  let last = performance.now();
  let longestGapMs = 0;
  const done = (async () => {
    for (let k = 0; !stopped && k < 200_000; k++) {
      const key = `${prefix}/${k % keys}`;
      await put()(key, `v${k}`);
      acked.set(key, `v${k}`);
      writes++;
      const now = performance.now();
      longestGapMs = Math.max(longestGapMs, now - last);
      last = now;
    }
  })();
  return {
    acked,
    writes: () => writes,
    /** The longest pause since the previous call (or the start). */
    step: () => {
      const gap = longestGapMs;
      longestGapMs = performance.now() - last;
      return gap;
    },
    /** Stops writing; resolves with the longest pause since the last step() (or the start). */
    stop: async () => {
      stopped = true;
      await done;
      return longestGapMs;
    },
  };
}
