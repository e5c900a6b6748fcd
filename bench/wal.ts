/**
 * bench/wal: the WAL's durable appends against the floor the disk sets, in the same run.
 *
 *   npm run bench:wal                              # batches of 1, 16 and 256 entries of 128 bytes
 *   npm run bench:wal -- --seconds 12 --rounds 5   # longer, for a shared machine
 *   npm run bench:wal -- --dir /mnt/data --batches 1,64 --bytes 512
 *
 * For each batch size three loops take turns:
 *   wal        the real WAL as nodes run it (`WAL_SYNC_DEFAULT`): build the batch's entries,
 *              encode them with CRC32C, one writev, sync (a new segment, when one fills, adds a
 *              folder fsync)
 *   wal-other  the same with the other sync mode (`fdatasync`: writev then fdatasync; `dsync`:
 *              one writev to an O_DSYNC segment)
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
import { WAL_SYNC_DEFAULT, Wal, type WalSyncMode } from '../src/storage/wal/wal.js';

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
const roundMs = (seconds * 1000) / (rounds * 3 * batchSizes.length);
const OTHER_SYNC: WalSyncMode = WAL_SYNC_DEFAULT === 'dsync' ? 'fdatasync' : 'dsync';

interface Loop {
  readonly name: string;
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
  const wals = await Promise.all(
    [WAL_SYNC_DEFAULT, OTHER_SYNC].map(async (sync) => {
      const { wal } = await Wal.open({ dir: join(dir, `wal-${sync}`), sync });
      return { sync, wal, next: 1 };
    }),
  );
  const raw: FileHandle = await open(join(dir, 'raw'), 'wx');
  let rawAt = 0;
  try {
    const pairs = batchSizes.map((batch) => {
      const bytes = new Uint8Array(onDisk * batch).fill(7);
      const walLoops = wals.map(
        (w): Loop => ({
          name: `wal ${w.sync}`,
          batch,
          bytesPerBatch: onDisk * batch,
          rates: [],
          one: async () => {
            const entries: Entry[] = new Array(batch);
            for (let k = 0; k < batch; k++) {
              entries[k] = { index: index(w.next + k), term: term(1), kind: EntryKind.Normal, data };
            }
            await w.wal.save({ entries });
            w.next += batch;
          },
        }),
      );
      const rawLoop: Loop = {
        name: 'raw',
        batch,
        bytesPerBatch: bytes.length,
        rates: [],
        one: async () => {
          await raw.write(bytes, 0, bytes.length, rawAt);
          await raw.datasync();
          rawAt += bytes.length;
        },
      };
      return { batch, loops: [...walLoops, rawLoop], walLoops, rawLoop };
    });
    for (const p of pairs) for (const loop of p.loops) for (let k = 0; k < 3; k++) await loop.one(); // warm-up
    for (let r = 0; r < rounds; r++) {
      for (const p of pairs) {
        // Rotate which loop goes first, so none always follows another's dirty pages.
        for (let k = 0; k < p.loops.length; k++) await round(p.loops[(r + k) % p.loops.length]!);
      }
    }
    console.log(
      `${'batch'.padStart(6)} ${'loop'.padEnd(14)} ${'appends/s'.padStart(10)} ${'MB/s'.padStart(8)} ${'ms/batch'.padStart(9)}  rounds (appends/s)`,
    );
    const ratios = new Map<string, string[]>();
    for (const p of pairs) {
      for (const loop of p.loops) {
        const rate = median(loop.rates);
        const mbs = ((rate / loop.batch) * loop.bytesPerBatch) / 1e6;
        const spread = `${fmt(Math.min(...loop.rates))}–${fmt(Math.max(...loop.rates))}`;
        console.log(
          `${String(p.batch).padStart(6)} ${loop.name.padEnd(14)} ${fmt(rate).padStart(10)} ${fmt(mbs, 2).padStart(8)} ${((1000 * loop.batch) / rate).toFixed(3).padStart(9)}  ${spread}`,
        );
      }
      for (const w of p.walLoops) {
        const ratio = median(w.rates) / median(p.rawLoop.rates);
        const list = ratios.get(w.name) ?? [];
        list.push(`batch ${p.batch}: ${ratio.toFixed(2)}×${ratio >= 0.9 ? '' : ' (below 0.9)'}`);
        ratios.set(w.name, list);
      }
    }
    for (const [name, list] of ratios) {
      const which = name === `wal ${WAL_SYNC_DEFAULT}` ? ' (the default)' : '';
      console.log(`${name}${which} / raw (appends/s): ${list.join(', ')}`);
    }
    const load1 = loadavg();
    console.log(
      `load average: ${load0.map((l) => l.toFixed(2)).join(' ')} at start, ${load1.map((l) => l.toFixed(2)).join(' ')} at end`,
    );
  } finally {
    for (const w of wals) await w.wal.close();
    await raw.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
