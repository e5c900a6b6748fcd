/**
 * bench/wal: the WAL's durable appends against the floor the disk sets, in the same run.
 *
 *   npm run bench:wal                              # batches of 1, 16 and 256 entries of 128 bytes
 *   npm run bench:wal -- --seconds 12 --rounds 5   # longer, for a shared machine
 *   npm run bench:wal -- --dir /mnt/data --batches 1,64 --bytes 512
 *
 * For each batch size two loops take turns:
 *   Wal.save   the real WAL: build the batch's entries, encode them with CRC32C, one writev, one
 *              fdatasync (a new segment, when one fills, adds a folder fsync)
 *   raw        a bare loop over a FileHandle: write the same number of bytes at the end of a file,
 *              fdatasync; no encoding, no checksum, no queue
 * Both files grow, so both fdatasyncs also flush the new size. The loops alternate for --rounds
 * rounds (default 3) of --seconds / (rounds × 2 × batch sizes) each, and the median round is
 * printed, so a neighbour's load that comes and goes hits both alike. The target is Wal / raw ≥ 0.9
 * at every batch size.
 */
import { type FileHandle, mkdtemp, open, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Entry, EntryKind, index, term } from '../src/raft/types.js';
import { entryRecordBytes } from '../src/storage/wal/record.js';
import { Wal } from '../src/storage/wal/wal.js';

const { values } = parseArgs({
  options: {
    batches: { type: 'string', default: '1,16,256' },
    bytes: { type: 'string', default: '128' },
    seconds: { type: 'string', default: '12' },
    rounds: { type: 'string', default: '3' },
    dir: { type: 'string' },
  },
});

function positive(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new Error(`bench/wal: --${name} must be a positive integer, got "${text}"`);
  return n;
}

const batchSizes = values.batches.split(',').map((b) => positive('batches', b.trim()));
const entryBytes = positive('bytes', values.bytes);
const rounds = positive('rounds', values.rounds);
const seconds = Number(values.seconds);
if (!(seconds > 0))
  throw new Error(`bench/wal: --seconds must be a positive number, got "${values.seconds}"`);
const roundMs = (seconds * 1000) / (rounds * 2 * batchSizes.length);

interface Loop {
  readonly batch: number;
  readonly bytesPerBatch: number;
  readonly one: () => Promise<void>;
  /** Entries per second, one figure per round. */
  readonly rates: number[];
}

/** Runs `loop.one` for a round's time (at least 5 batches) and records its rate. */
async function round(loop: Loop): Promise<void> {
  let batches = 0;
  const t0 = performance.now();
  while (batches < 5 || performance.now() - t0 < roundMs) {
    await loop.one();
    batches++;
  }
  loop.rates.push((batches * loop.batch * 1000) / (performance.now() - t0));
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

async function main(): Promise<void> {
  const dir = await mkdtemp(join(values.dir ?? tmpdir(), 'flotilla-bench-wal-'));
  const load0 = loadavg();
  const data = new Uint8Array(entryBytes).fill(7);
  const onDisk = entryRecordBytes({ index: index(1), term: term(1), kind: EntryKind.Normal, data });
  console.log(
    `bench/wal: entries of ${entryBytes} bytes (${onDisk} on disk with the record header), ` +
      `batches of ${batchSizes.join(', ')}, ${rounds} rounds, median shown; in ${dir}; node ${process.version}`,
  );
  const { wal } = await Wal.open({ dir: join(dir, 'wal') });
  const raw: FileHandle = await open(join(dir, 'raw'), 'wx');
  let walNext = 1;
  let rawAt = 0;
  try {
    const pairs = batchSizes.map((batch) => {
      const bytes = new Uint8Array(onDisk * batch).fill(7);
      const walLoop: Loop = {
        batch,
        bytesPerBatch: onDisk * batch,
        rates: [],
        one: async () => {
          const entries: Entry[] = new Array(batch);
          for (let k = 0; k < batch; k++) {
            entries[k] = { index: index(walNext + k), term: term(1), kind: EntryKind.Normal, data };
          }
          await wal.save({ entries });
          walNext += batch;
        },
      };
      const rawLoop: Loop = {
        batch,
        bytesPerBatch: bytes.length,
        rates: [],
        one: async () => {
          await raw.write(bytes, 0, bytes.length, rawAt);
          await raw.datasync();
          rawAt += bytes.length;
        },
      };
      return { batch, walLoop, rawLoop };
    });
    for (const p of pairs) for (let k = 0; k < 3; k++) await Promise.all([p.walLoop.one(), p.rawLoop.one()]); // warm-up
    for (let r = 0; r < rounds; r++) {
      for (const p of pairs) {
        // Alternate which loop goes first, so neither always follows the other's dirty pages.
        const order = r % 2 === 0 ? [p.walLoop, p.rawLoop] : [p.rawLoop, p.walLoop];
        for (const loop of order) await round(loop);
      }
    }
    console.log(
      `${'batch'.padStart(6)} ${'loop'.padEnd(9)} ${'appends/s'.padStart(10)} ${'MB/s'.padStart(8)} ${'ms/batch'.padStart(9)}  rounds (appends/s)`,
    );
    const ratios: string[] = [];
    for (const p of pairs) {
      for (const [name, loop] of [
        ['Wal.save', p.walLoop],
        ['raw', p.rawLoop],
      ] as const) {
        const rate = median(loop.rates);
        const mbs = ((rate / loop.batch) * loop.bytesPerBatch) / 1e6;
        const spread = `${fmt(Math.min(...loop.rates))}–${fmt(Math.max(...loop.rates))}`;
        console.log(
          `${String(p.batch).padStart(6)} ${name.padEnd(9)} ${fmt(rate).padStart(10)} ${fmt(mbs, 2).padStart(8)} ${((1000 * loop.batch) / rate).toFixed(3).padStart(9)}  ${spread}`,
        );
      }
      const ratio = median(p.walLoop.rates) / median(p.rawLoop.rates);
      ratios.push(`batch ${p.batch}: ${ratio.toFixed(2)}×${ratio >= 0.9 ? '' : ' (below 0.9)'}`);
    }
    console.log(`Wal.save / raw (appends/s): ${ratios.join(', ')}`);
    const load1 = loadavg();
    console.log(
      `load average: ${load0.map((l) => l.toFixed(2)).join(' ')} at start, ${load1.map((l) => l.toFixed(2)).join(' ')} at end`,
    );
  } finally {
    await wal.close();
    await raw.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
