import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The median time of one 154-byte append + fdatasync in os.tmpdir() (where the bench puts the
 * members' data), over `count` sequential tries: the floor under a single client's write latency.
 */
export async function fdatasyncMedianMs(count = 200): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-disk-'));
  try {
    const f = await open(join(dir, 'probe'), 'w');
    const record = new Uint8Array(154).fill(7);
    const times = new Float64Array(count);
    try {
      for (let k = 0; k < count; k++) {
        const t0 = performance.now();
        await f.write(record);
        await f.datasync();
        times[k] = performance.now() - t0;
      }
    } finally {
      await f.close();
    }
    return times.sort()[count >> 1]!;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
