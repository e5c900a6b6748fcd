/**
 * bench/wal-fsync: what one fdatasync per batch buys over syncing every write, on this machine's
 * disk (a temp folder under os.tmpdir(); pass --dir to measure another disk).
 *
 *   npm run bench:wal-fsync                    # batches of 64 entries of 128 bytes
 *   npm run bench:wal-fsync -- --batch 16 --bytes 512 --dir /mnt/data
 *
 * Variants:
 *   batched   one write of the whole batch + one fdatasync (what the WAL does)
 *   O_DSYNC   one write per entry on a file opened with O_DSYNC (each write waits for the disk)
 *   O_SYNC    the same with O_SYNC
 *   Wal.save  the real WAL: encode + CRC32C + one writev + one fdatasync per save
 *   append-1 / prealloc-1   batches of one entry: appending (the size changes, so fdatasync
 *             flushes it too) against overwriting a preallocated, already synced 64 MiB file
 *
 * The variants take turns for --rounds rounds (default 3) of --seconds / rounds each, and the
 * median round is printed, so a neighbour's load that comes and goes hits them all alike.
 */
import { constants } from 'node:fs';
import { type FileHandle, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Entry, EntryKind, index, term } from '../src/raft/types.js';
import { Wal } from '../src/storage/wal/wal.js';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '64' },
    bytes: { type: 'string', default: '128' },
    seconds: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    dir: { type: 'string' },
  },
});
const batch = Number(values.batch);
const entryBytes = Number(values.bytes);
const rounds = Number(values.rounds);
const roundMs = (Number(values.seconds) * 1000) / rounds;
const PREALLOC_BYTES = 64 * 1024 * 1024;
const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC;

interface Variant {
  readonly name: string;
  readonly entriesPerBatch: number;
  readonly one: () => Promise<void>;
  readonly rates: number[];
  readonly latencies: number[];
}

/** Runs `v.one` (one batch) for a round's time; at least 5 batches. */
async function round(v: Variant): Promise<void> {
  let batches = 0;
  const t0 = performance.now();
  while (batches < 5 || performance.now() - t0 < roundMs) {
    await v.one();
    batches++;
  }
  const ms = performance.now() - t0;
  v.rates.push((batches * v.entriesPerBatch * 1000) / ms);
  v.latencies.push(ms / batches);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(values.dir ?? tmpdir(), 'flotilla-bench-wal-'));
  const record = new Uint8Array(entryBytes + 26).fill(7);
  const whole = new Uint8Array(record.length * batch).fill(7);
  const data = new Uint8Array(entryBytes).fill(7);
  console.log(
    `bench/wal-fsync: batches of ${batch} entries of ${entryBytes} bytes (${record.length} on disk), ` +
      `${rounds} rounds, median shown; in ${dir}; node ${process.version}`,
  );
  const handles: FileHandle[] = [];
  const file = async (name: string, flags: number): Promise<FileHandle> => {
    const f = await open(join(dir, name), flags, 0o644);
    handles.push(f);
    return f;
  };
  try {
    const batched = await file('batched', CREATE);
    const dsync = await file('dsync', CREATE | constants.O_DSYNC);
    const sync = await file('sync', CREATE | constants.O_SYNC);
    const append = await file('append', CREATE);
    const prealloc = await file('prealloc', CREATE);
    const zeros = new Uint8Array(1024 * 1024);
    for (let at = 0; at < PREALLOC_BYTES; at += zeros.length)
      await prealloc.write(zeros, 0, zeros.length, at);
    await prealloc.sync();
    let preallocAt = 0;
    const { wal } = await Wal.open({ dir: join(dir, 'wal') });
    let next = 1;
    const variant = (name: string, entriesPerBatch: number, one: () => Promise<void>): Variant => ({
      name,
      entriesPerBatch,
      one,
      rates: [],
      latencies: [],
    });
    const variants = [
      variant('batched: 1 write + 1 fdatasync', batch, async () => {
        await batched.write(whole);
        await batched.datasync();
      }),
      variant(`O_DSYNC: ${batch} writes`, batch, async () => {
        for (let k = 0; k < batch; k++) await dsync.write(record);
      }),
      variant(`O_SYNC: ${batch} writes`, batch, async () => {
        for (let k = 0; k < batch; k++) await sync.write(record);
      }),
      variant('Wal.save (encode, CRC, 1 fdatasync)', batch, async () => {
        const entries: Entry[] = [];
        for (let k = 0; k < batch; k++) {
          entries.push({ index: index(next + k), term: term(1), kind: EntryKind.Normal, data });
        }
        await wal.save({ entries });
        next += batch;
      }),
      variant('append-1: append + fdatasync', 1, async () => {
        await append.write(record);
        await append.datasync();
      }),
      variant('prealloc-1: overwrite + fdatasync', 1, async () => {
        await prealloc.write(record, 0, record.length, preallocAt);
        preallocAt = (preallocAt + record.length) % (PREALLOC_BYTES - record.length);
        await prealloc.datasync();
      }),
    ];
    for (const v of variants) for (let k = 0; k < 3; k++) await v.one(); // warm-up
    for (let r = 0; r < rounds; r++) for (const v of variants) await round(v);
    await wal.close();
    const rate = new Map(variants.map((v) => [v.name, median(v.rates)]));
    for (const v of variants) {
      const spread = `${Math.round(Math.min(...v.rates))}–${Math.round(Math.max(...v.rates))}`;
      console.log(
        `  ${v.name.padEnd(36)} ${Math.round(rate.get(v.name)!).toLocaleString('en-US').padStart(10)} entries/s` +
          `  ${median(v.latencies).toFixed(3).padStart(8)} ms per batch  (rounds: ${spread})`,
      );
    }
    const ratio = (a: Variant, b: Variant): string => (rate.get(a.name)! / rate.get(b.name)!).toFixed(2);
    const [b, d, s, w, a1, p1] = variants as [Variant, Variant, Variant, Variant, Variant, Variant];
    console.log('ratios (entries/s):');
    console.log(`  batched / O_DSYNC per write:  ${ratio(b, d)}×`);
    console.log(`  batched / O_SYNC per write:   ${ratio(b, s)}×`);
    console.log(`  Wal.save / raw batched:       ${ratio(w, b)}×`);
    console.log(`  prealloc-1 / append-1:        ${ratio(p1, a1)}×`);
  } finally {
    for (const h of handles) await h.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
