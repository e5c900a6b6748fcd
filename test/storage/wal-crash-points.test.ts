import { describe, expect, test } from 'vitest';
import { type Entry, type HardState, type Index, index, type Term } from '../../src/raft/types.js';
import { Prng } from '../../src/sim/prng.js';
import { SimulatedDisk, type TornMode } from '../../src/storage/fs/simulated-disk.js';
import { Wal, type WalRecovered, type WalSyncMode } from '../../src/storage/wal/wal.js';
import { DIR, entry, hardState, randomBytes } from './helpers.js';
import {
  applyStep,
  emptyWalModel,
  lastIndex,
  markerStep,
  saveSteps,
  type WalModel,
  type WalStep,
} from './wal-model.js';

/**
 * Every write and fsync boundary of a workload, crashed at: the machine stops there, loses what
 * was not synced (or keeps a torn prefix of it), and recovery must return exactly the state after
 * the acknowledged calls plus some prefix of the records of the call in flight — never less, and
 * nothing that was never written.
 */

const SEGMENT_BYTES = 160;
const SEED = 20_240_611;

type Op =
  | { readonly kind: 'save'; readonly entries: Entry[]; readonly hardState?: HardState }
  | { readonly kind: 'marker'; readonly index: Index; readonly term: Term }
  | { readonly kind: 'release'; readonly index: Index };

type Snap = { readonly index: Index; readonly term: Term };
type Model = WalModel<Snap>;
type Step = WalStep<Snap>;

const EMPTY: Model = emptyWalModel<Snap>();

function steps(m: Model, op: Op): Step[] {
  switch (op.kind) {
    case 'save':
      return saveSteps<Snap>(m, op.entries, op.hardState);
    case 'marker':
      return [markerStep(m, { index: op.index, term: op.term })];
    case 'release':
      return [];
  }
}

/** What recovery reports for a model state: a commit past the last entry is lowered to it. */
function asRecovered(m: Model): WalRecovered {
  const last = lastIndex(m);
  const hs = m.hardState.commit > last ? { ...m.hardState, commit: index(last) } : m.hardState;
  return { hardState: hs, snapshot: m.snapshot, entries: [...m.entries] };
}

/** A workload of saves (varying batches, suffix truncations, hard-state changes), markers and releases. */
function workload(seed: number): { ops: Op[]; models: Model[] } {
  const rng = new Prng(seed);
  const ops: Op[] = [];
  const models: Model[] = [EMPTY];
  let m = EMPTY;
  let t = 1;
  const push = (op: Op): void => {
    ops.push(op);
    for (const s of steps(m, op)) m = applyStep(m, s);
    models.push(m);
  };
  push({ kind: 'save', entries: [], hardState: hardState(1, 'a', 0) });
  for (let k = 0; k < 40; k++) {
    const last = lastIndex(m);
    const commit = m.hardState.commit;
    const base = m.snapshot?.index ?? 0;
    if (k === 14 || k === 30) {
      const at = commit;
      const held = m.entries.find((e) => e.index === at);
      if (held !== undefined) push({ kind: 'marker', index: held.index, term: held.term });
      push({ kind: 'release', index: index(Math.max(0, at - 2)) });
      continue;
    }
    const roll = rng.nextInt(10);
    if (roll < 2 && last > Math.max(commit, base) + 1) {
      // A new leader's log wins: drop an uncommitted suffix, in a new term.
      t++;
      const from = rng.between(Math.max(commit, base) + 1, last);
      const batch = Array.from({ length: rng.between(1, 3) }, (_, j) =>
        entry(from + j, t, randomBytes(rng, 24)),
      );
      push({ kind: 'save', entries: batch, hardState: hardState(t, 'b', commit) });
    } else if (roll < 3) {
      push({
        kind: 'save',
        entries: [],
        hardState: hardState(t, 'a', Math.min(last, commit + rng.between(1, 4))),
      });
    } else {
      const batch = Array.from({ length: rng.between(1, 5) }, (_, j) =>
        entry(last + 1 + j, t, randomBytes(rng, 32)),
      );
      const newCommit = Math.min(last, commit + rng.nextInt(4));
      push({
        kind: 'save',
        entries: batch,
        ...(newCommit === commit ? {} : { hardState: hardState(t, 'a', newCommit) }),
      });
    }
  }
  return { ops, models };
}

/** Runs the workload; returns how many ops were acknowledged (and whether open was). */
async function run(
  disk: SimulatedDisk,
  ops: readonly Op[],
  sync: WalSyncMode,
): Promise<{ opened: boolean; acked: number }> {
  let opened = false;
  let acked = 0;
  try {
    const { wal } = await Wal.open({ dir: DIR, fs: disk.fs(), segmentBytes: SEGMENT_BYTES, sync });
    opened = true;
    for (const op of ops) {
      if (op.kind === 'save') {
        await wal.save(op.hardState === undefined ? { entries: op.entries } : op);
      } else if (op.kind === 'marker') await wal.saveSnapshotMarker(op.index, op.term);
      else await wal.releaseTo(op.index);
      acked++;
    }
    await wal.close();
  } catch (err) {
    if (!disk.isStopped) throw err;
  }
  return { opened, acked };
}

/** Every state recovery may return: the acknowledged one plus each prefix of the call in flight. */
function allowed(models: readonly Model[], ops: readonly Op[], acked: number): WalRecovered[] {
  let m = models[acked]!;
  const out = [asRecovered(m)];
  const op = ops[acked];
  if (op === undefined) return out;
  for (const s of steps(m, op)) {
    m = applyStep(m, s);
    out.push(asRecovered(m));
  }
  return out;
}

function expectOneOf(recovered: WalRecovered, candidates: readonly WalRecovered[], where: string): void {
  const ok = candidates.some((c) => {
    try {
      expect(recovered).toEqual(c);
      return true;
    } catch {
      return false;
    }
  });
  if (!ok) expect({ where, recovered }).toEqual({ where, recovered: candidates[0] });
}

/** Recovers, checks, then proves the recovered WAL still appends and reads back. */
async function recoverAndCheck(
  disk: SimulatedDisk,
  candidates: readonly WalRecovered[],
  where: string,
  sync: WalSyncMode,
) {
  const { wal, recovered } = await Wal.open({ dir: DIR, fs: disk.fs(), segmentBytes: SEGMENT_BYTES, sync });
  expectOneOf(recovered, candidates, where);
  const next = wal.lastIndex + 1;
  const lastTerm = recovered.entries.at(-1)?.term ?? recovered.snapshot?.term ?? 0;
  const extra = entry(next, Math.max(lastTerm, recovered.hardState.term, 1));
  await wal.save({ entries: [extra] });
  await wal.close();
  const { wal: again, recovered: after } = await Wal.open({
    dir: DIR,
    fs: disk.fs(),
    segmentBytes: SEGMENT_BYTES,
    sync,
  });
  expect(after.entries).toEqual([...recovered.entries, extra]);
  expect(after.snapshot).toEqual(recovered.snapshot);
  await again.close();
}

// Both ways of syncing a save: write + fdatasync, and one write to an O_DSYNC segment.
for (const sync of ['fdatasync', 'dsync'] as const)
  describe(`WAL crash points (sync: ${sync})`, () => {
    const { ops, models } = workload(SEED);
    const total = (() => {
      const disk = new SimulatedDisk();
      return run(disk, ops, sync).then(() => disk.boundaries);
    })();

    test('the workload covers truncations, markers, releases and rotations', async () => {
      const disk = new SimulatedDisk();
      const { acked } = await run(disk, ops, sync);
      expect(acked).toBe(ops.length);
      expect(ops.filter((o) => o.kind === 'marker').length).toBeGreaterThanOrEqual(2);
      expect(ops.filter((o) => o.kind === 'release').length).toBeGreaterThanOrEqual(2);
      expect(
        ops.some(
          (o, k) =>
            o.kind === 'save' && o.entries[0] !== undefined && o.entries[0].index <= lastIndex(models[k]!),
        ),
      ).toBe(true);
      const { wal, recovered } = await Wal.open({
        dir: DIR,
        fs: disk.fs(),
        segmentBytes: SEGMENT_BYTES,
        sync,
      });
      expect(recovered).toEqual(asRecovered(models.at(-1)!));
      expect(wal.segments.length).toBeGreaterThan(3);
      await wal.close();
      expect(await total).toBeGreaterThan(120);
    });

    /** A torn crash keeps a random prefix: each boundary is crashed with several draws. */
    const modes: readonly { mode: TornMode; draws: number }[] = [
      { mode: 'none', draws: 1 },
      { mode: 'prefix', draws: 4 },
      { mode: 'zeros', draws: 2 },
    ];
    for (const { mode, draws } of modes) {
      const what = mode === 'none' ? 'lost' : `kept as a torn ${mode} (${draws} draws each)`;
      test(`crash at every boundary, unsynced bytes ${what}`, async () => {
        const n = await total;
        console.log(`seed=${SEED} ops=${ops.length} boundaries=${n} mode=${mode} sync=${sync}`);
        for (let at = 0; at <= n; at++) {
          const disk = new SimulatedDisk();
          disk.stopAfter(at);
          const { opened, acked } = await run(disk, ops, sync);
          const candidates = opened ? allowed(models, ops, acked) : [asRecovered(EMPTY)];
          for (let draw = 0; draw < draws; draw++) {
            const copy = disk.clone();
            copy.crash({ mode, rng: new Prng(SEED + at * draws + draw) });
            const where = `crash at boundary ${at} (${mode}, draw ${draw}), ${acked} ops acknowledged`;
            await recoverAndCheck(copy, candidates, where, sync);
          }
        }
      });
    }

    test('a crash during recovery itself is recovered from too', async () => {
      const n = await total;
      for (let at = 0; at <= n; at += 3) {
        const disk = new SimulatedDisk();
        disk.stopAfter(at);
        const { opened, acked } = await run(disk, ops, sync);
        disk.crash({ mode: 'prefix', rng: new Prng(SEED + at) });
        const candidates = opened ? allowed(models, ops, acked) : [asRecovered(EMPTY)];
        // Stop the recovery at each of its own boundaries, crash again, and recover.
        for (let inner = 0; ; inner++) {
          const copy = disk.clone();
          copy.stopAfter(inner);
          let done = false;
          try {
            const { wal } = await Wal.open({ dir: DIR, fs: copy.fs(), segmentBytes: SEGMENT_BYTES, sync });
            await wal.close();
            done = true;
          } catch (err) {
            if (!copy.isStopped) throw err;
          }
          copy.crash({ mode: 'prefix', rng: new Prng(inner) });
          await recoverAndCheck(copy, candidates, `crash at ${at}, then during recovery at ${inner}`, sync);
          if (done) break;
        }
      }
    });
  });
