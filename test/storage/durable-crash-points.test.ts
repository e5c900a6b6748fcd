import { describe, expect, test } from 'vitest';
import { type Entry, type HardState, index, type SnapshotMeta, term } from '../../src/raft/types.js';
import { Prng } from '../../src/sim/prng.js';
import { DurableStorage } from '../../src/storage/durable-storage.js';
import { SimulatedDisk, type TornMode } from '../../src/storage/fs/simulated-disk.js';
import { parseSnapshotFileName, snapshotFileName } from '../../src/storage/snapshot/snapshot-file.js';
import type { WalSyncMode } from '../../src/storage/wal/wal.js';
import { entry, hardState, randomBytes } from './helpers.js';
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
 * DurableStorage crashed at every write and fsync boundary of a workload that uses it the way a
 * RaftNode does: saves (batches, hard-state changes, a new leader's suffix replacing ours), own
 * snapshots (createSnapshot → write → commit, then compactLog, which writes the WAL marker,
 * releases segments and retains snapshot files), snapshots received from a leader
 * (createSnapshot → commit, then installSnapshot) that replace a conflicting, a shorter or keep a
 * matching log (§7), and restarts. After each crash — unsynced bytes lost, or kept as a torn
 * prefix, or a prefix then zeros — DurableStorage.open must (1) open; (2) hold every acknowledged
 * save, compaction and install: the state after the acknowledged calls plus a prefix of the
 * records of the call in flight, with the snapshot the marker names readable byte for byte;
 * (3) hold nothing that was never written; (4) accept a further save and reopen the same.
 * `DURABLE_CRASH_SEED=N` runs another workload.
 */

const DATA = '/data/node';
const WAL_DIR = `${DATA}/wal`;
const SNAP_DIR = `${DATA}/snap`;
/** Small enough that a segment holds two or three saves: segments rotate and get released. */
const SEGMENT_BYTES = 200;
/** RaftNodeOptions.retainEntries, scaled down: compactLog keeps this many entries behind the snapshot. */
const RETAIN_ENTRIES = 2;
const SEED = Number(process.env.DURABLE_CRASH_SEED ?? 20_250_302);
const VOTERS = ['a', 'b', 'c'];

type Op =
  | { readonly kind: 'save'; readonly entries: Entry[]; readonly hardState?: HardState }
  /** createSnapshot → write each chunk → commit: our own snapshot, or one arriving from the leader. */
  | { readonly kind: 'create'; readonly meta: SnapshotMeta; readonly chunks: Uint8Array[] }
  | { readonly kind: 'compact'; readonly meta: SnapshotMeta }
  | { readonly kind: 'install'; readonly meta: SnapshotMeta }
  | { readonly kind: 'reopen' };

type Model = WalModel<SnapshotMeta>;
type Step = WalStep<SnapshotMeta>;

interface Workload {
  readonly ops: readonly Op[];
  /** models[k]: the state once ops[0, k) are acknowledged. */
  readonly models: readonly Model[];
  /** The data of every snapshot created, by file name. */
  readonly data: ReadonlyMap<string, Uint8Array>;
}

const EMPTY: Model = emptyWalModel<SnapshotMeta>();

function steps(m: Model, op: Op): Step[] {
  switch (op.kind) {
    case 'save':
      return saveSteps<SnapshotMeta>(m, op.entries, op.hardState);
    case 'compact':
    case 'install':
      return [markerStep(m, op.meta)];
    case 'create':
    case 'reopen':
      return [];
  }
}

// ---- the workload --------------------------------------------------------------------------

/**
 * Saves chosen by the seed, with fixed points for the rest: four own snapshots and compactions,
 * two restarts, and three received snapshots — one whose term disagrees with our entry at its
 * index, one beyond our last entry, one that matches and keeps our suffix.
 */
function workload(seed: number): Workload {
  const rng = new Prng(seed);
  const ops: Op[] = [];
  const models: Model[] = [EMPTY];
  const data = new Map<string, Uint8Array>();
  let m = EMPTY;
  let t = 1;
  const push = (op: Op): void => {
    ops.push(op);
    for (const s of steps(m, op)) m = applyStep(m, s);
    models.push(m);
  };
  const commit = (): number => m.hardState.commit;
  const base = (): number => m.snapshot?.index ?? 0;
  const append = (n: number, newCommit = commit(), vote = m.hardState.vote): void => {
    const from = lastIndex(m) + 1;
    const batch = Array.from({ length: n }, (_, j) => entry(from + j, t, randomBytes(rng, 24)));
    const hs =
      newCommit === commit() && t === m.hardState.term ? {} : { hardState: hardState(t, vote, newCommit) };
    push({ kind: 'save', entries: batch, ...hs });
  };
  const create = (meta: SnapshotMeta): void => {
    const bytes = randomBytes(rng, 300);
    data.set(snapshotFileName(meta.index, meta.term), bytes);
    const cut = rng.nextInt(bytes.length + 1);
    const chunks = cut === 0 ? [bytes] : [bytes.subarray(0, cut), bytes.subarray(cut)];
    push({ kind: 'create', meta, chunks });
  };

  const ownSnapshot = (joint: boolean): void => {
    if (lastIndex(m) < base() + 2) append(3);
    if (commit() <= base())
      push({ kind: 'save', entries: [], hardState: hardState(t, m.hardState.vote, lastIndex(m)) });
    const at = commit();
    const held = m.entries.find((e) => e.index === at)!;
    const meta: SnapshotMeta = joint
      ? {
          index: index(at),
          term: held.term,
          voters: ['a', 'b', 'd'],
          learners: ['e'],
          outgoing: VOTERS,
          addresses: { a: '10.0.0.1:7101', b: '10.0.0.2:7101', c: '10.0.0.3:7101', d: 'd:7104', e: 'e:7105' },
        }
      : { index: index(at), term: held.term, voters: VOTERS };
    create(meta);
    push({ kind: 'compact', meta });
  };
  /** A new leader's snapshot whose term differs from ours at its index: our log is discarded. */
  const installConflicting = (): void => {
    if (lastIndex(m) < commit() + 2) append(3);
    t++;
    push({ kind: 'save', entries: [], hardState: hardState(t, '', commit()) });
    const at = rng.between(commit() + 1, lastIndex(m));
    const meta: SnapshotMeta = { index: index(at), term: term(t), voters: VOTERS };
    create(meta);
    push({ kind: 'install', meta });
    append(rng.between(1, 3), at, '');
  };
  /** The leader's snapshot reaches past our last entry: our (shorter) log is discarded. */
  const installShorter = (): void => {
    if (m.entries.length === 0) append(2);
    const at = lastIndex(m) + rng.between(2, 6);
    const meta: SnapshotMeta = { index: index(at), term: term(t), voters: VOTERS };
    create(meta);
    push({ kind: 'install', meta });
    append(rng.between(1, 3), at);
  };
  /** The snapshot's last entry is ours too: the entries after it stay. */
  const installMatching = (): void => {
    if (lastIndex(m) < commit() + 3) append(4);
    const at = rng.between(commit() + 1, lastIndex(m) - 1);
    const held = m.entries.find((e) => e.index === at)!;
    const meta: SnapshotMeta = { index: index(at), term: held.term, voters: VOTERS };
    create(meta);
    push({ kind: 'install', meta });
    push({ kind: 'save', entries: [], hardState: hardState(t, m.hardState.vote, at) });
  };
  const randomSave = (): void => {
    const last = lastIndex(m);
    const floor = Math.max(commit(), base());
    const roll = rng.nextInt(10);
    if (roll < 2 && last > floor + 1) {
      // A new leader's log wins: our uncommitted suffix is replaced, in a new term (§5.3).
      t++;
      const from = rng.between(floor + 1, last);
      const batch = Array.from({ length: rng.between(1, 3) }, (_, j) =>
        entry(from + j, t, randomBytes(rng, 24)),
      );
      push({ kind: 'save', entries: batch, hardState: hardState(t, 'b', commit()) });
    } else if (roll < 3 && last > commit()) {
      push({
        kind: 'save',
        entries: [],
        hardState: hardState(t, m.hardState.vote, Math.min(last, commit() + rng.between(1, 4))),
      });
    } else {
      append(rng.between(1, 4), Math.min(last, commit() + rng.nextInt(4)));
    }
  };

  push({ kind: 'save', entries: [], hardState: hardState(1, 'a', 0) });
  for (let k = 0; k < 46; k++) {
    if (k === 7 || k === 17 || k === 42) ownSnapshot(false);
    else if (k === 31) ownSnapshot(true);
    else if (k === 12 || k === 36) push({ kind: 'reopen' });
    else if (k === 21) installConflicting();
    else if (k === 26) installShorter();
    else if (k === 39) installMatching();
    else randomSave();
  }
  return { ops, models, data };
}

// ---- running it ----------------------------------------------------------------------------

function open(disk: SimulatedDisk, sync: WalSyncMode): Promise<DurableStorage> {
  return DurableStorage.open({
    dir: DATA,
    fs: disk.fs(),
    segmentBytes: SEGMENT_BYTES,
    walSync: sync,
    onWarning: () => {},
  });
}

async function readAll(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

/** One call, as RaftNode makes it (maybeSnapshot, receiveSnapshot, handleReady). */
async function perform(storage: DurableStorage, op: Op, w: Workload): Promise<void> {
  switch (op.kind) {
    case 'save':
      return storage.save(op.entries, op.hardState);
    case 'create': {
      const sink = storage.createSnapshot(op.meta);
      try {
        for (const chunk of op.chunks) await sink.write(chunk);
        await sink.commit();
      } catch (err) {
        await sink.abort().catch(() => {});
        throw err;
      }
      return;
    }
    case 'compact': {
      const compactTo = index(Math.max(storage.firstIndex() - 1, op.meta.index - RETAIN_ENTRIES));
      return storage.compactLog(op.meta, compactTo);
    }
    case 'install': {
      // The state machine restores from the file before the log is told (handleReady).
      const bytes = await readAll(storage.openSnapshot(op.meta, 0));
      expect(bytes).toEqual(w.data.get(snapshotFileName(op.meta.index, op.meta.term)));
      return storage.installSnapshot(op.meta);
    }
    case 'reopen':
      throw new Error('reopen is run by run()');
  }
}

/**
 * Runs the workload until it ends or the disk stops. `acked`: how many calls resolved;
 * `opened`: whether the first open did. `onAck` sees the live storage after each call.
 */
async function run(
  disk: SimulatedDisk,
  w: Workload,
  sync: WalSyncMode,
  onAck?: (storage: DurableStorage, acked: number) => void,
): Promise<{ opened: boolean; acked: number }> {
  let opened = false;
  let acked = 0;
  try {
    let storage = await open(disk, sync);
    opened = true;
    for (const op of w.ops) {
      if (op.kind === 'reopen') {
        await storage.close();
        storage = await open(disk, sync);
      } else await perform(storage, op, w);
      acked++;
      onAck?.(storage, acked);
    }
    await storage.close();
  } catch (err) {
    if (!disk.isStopped) throw err;
  }
  return { opened, acked };
}

// ---- checking ------------------------------------------------------------------------------

function metaText(meta: SnapshotMeta | undefined): string {
  if (meta === undefined) return 'none';
  const addresses =
    meta.addresses === undefined ? '-' : JSON.stringify(Object.entries(meta.addresses).sort());
  return (
    `(${meta.index}, ${meta.term}) voters ${meta.voters.join()} learners ${meta.learners?.join() ?? '-'} ` +
    `outgoing ${meta.outgoing?.join() ?? '-'} addresses ${addresses}`
  );
}

/** The state as text (one line each), so a mismatch shows as a diff. */
function stateText(hs: HardState, snap: SnapshotMeta | undefined, entries: readonly Entry[]): string[] {
  return [
    `hard state: term ${hs.term}, vote '${hs.vote}', commit ${hs.commit}`,
    `snapshot: ${metaText(snap)}`,
    ...entries.map(
      (e) => `entry ${e.index} term ${e.term} kind ${e.kind} ${Buffer.from(e.data).toString('hex')}`,
    ),
  ];
}

/** What recovery reports for a model state: a commit past the last entry is lowered to it. */
function expectedText(m: Model): string[] {
  const last = lastIndex(m);
  const hs = m.hardState.commit > last ? { ...m.hardState, commit: index(last) } : m.hardState;
  return stateText(hs, m.snapshot, m.entries);
}

function storageText(s: DurableStorage): string[] {
  const base = s.snapshot()?.index ?? 0;
  const first = Math.max(s.firstIndex(), base + 1);
  const held = s.entries(index(first), index(s.lastIndex() + 1), Number.POSITIVE_INFINITY);
  return stateText(s.hardState(), s.snapshot(), held);
}

/** Every state recovery may return: the acknowledged one plus each record prefix of the call in flight. */
function candidates(w: Workload, opened: boolean, acked: number): Model[] {
  let m = w.models[acked]!;
  const out: Model[] = [m];
  const op = w.ops[acked];
  if (!opened || op === undefined) return out;
  for (const s of steps(m, op)) {
    m = applyStep(m, s);
    out.push(m);
  }
  return out;
}

/** Rules (1) to (4) on a crashed disk. */
async function recoverAndCheck(
  disk: SimulatedDisk,
  w: Workload,
  crashed: { opened: boolean; acked: number },
  where: string,
  sync: WalSyncMode,
): Promise<void> {
  // (1) Any state a crash leaves opens.
  let storage: DurableStorage;
  try {
    storage = await open(disk, sync);
  } catch (err) {
    throw new Error(`${where}: DurableStorage.open refused: ${(err as Error).message}`);
  }
  // (2), (3): the acknowledged state plus a prefix of the call in flight, and nothing else.
  const recovered = storageText(storage);
  const allowed = candidates(w, crashed.opened, crashed.acked);
  if (!allowed.some((m) => sameLines(expectedText(m), recovered))) {
    expect({ where, recovered }).toEqual({ where, recovered: expectedText(allowed[0]!) });
  }
  const snap = storage.snapshot();
  const base = snap?.index ?? 0;
  expect(storage.firstIndex(), where).toBe(base + 1);
  if (snap !== undefined) {
    expect(storage.term(snap.index), where).toBe(snap.term);
    const written = w.data.get(snapshotFileName(snap.index, snap.term));
    expect(await readAll(storage.openSnapshot(snap, 0)), where).toEqual(written);
  }
  // Snapshot files: only ones created by the calls made, and no temporary file once open.
  const created = new Set<string>();
  for (const op of w.ops.slice(0, crashed.acked + 1)) {
    if (op.kind === 'create') created.add(snapshotFileName(op.meta.index, op.meta.term));
  }
  for (const name of disk.list(SNAP_DIR)) {
    expect(parseSnapshotFileName(name) !== undefined && created.has(name), `${where}: ${name}`).toBe(true);
  }
  // (4) It takes a further save and reopens to the same state plus that save.
  const lastTerm = storage.lastIndex() > base ? storage.term(storage.lastIndex()) : (snap?.term ?? 0);
  const extra = entry(storage.lastIndex() + 1, Math.max(lastTerm, storage.hardState().term, 1));
  await storage.save([extra], undefined);
  await storage.close();
  const again = await open(disk, sync);
  expect(storageText(again), `${where}, after a further save`).toEqual([
    ...recovered,
    ...stateText(again.hardState(), undefined, [extra]).slice(2),
  ]);
  if (snap !== undefined) {
    expect(await readAll(again.openSnapshot(snap, 0)), where).toEqual(
      w.data.get(snapshotFileName(snap.index, snap.term)),
    );
  }
  await again.close();
}

function sameLines(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((line, k) => line === b[k]);
}

function segmentSeqs(disk: SimulatedDisk): number[] {
  return disk.list(WAL_DIR).map((name) => Number(name.slice(0, 16)));
}

// ---- the tests -----------------------------------------------------------------------------

const WORK = workload(SEED);

/** Torn crashes keep a random prefix: each boundary is crashed with these draws. */
const MODES: readonly { mode: TornMode; draws: number }[] = [
  { mode: 'none', draws: 1 },
  { mode: 'prefix', draws: 2 },
  { mode: 'zeros', draws: 1 },
];

// Both ways of syncing a save: write + fdatasync, and one write to an O_DSYNC segment.
for (const sync of ['fdatasync', 'dsync'] as const)
  describe(`DurableStorage crash points (walSync: ${sync})`, () => {
    const total = (async () => {
      const disk = new SimulatedDisk();
      await run(disk, WORK, sync);
      return disk.boundaries;
    })();

    test('the workload saves, compacts, installs and restarts as the node does', async () => {
      const disk = new SimulatedDisk();
      const seen = new Set<number>();
      const { acked } = await run(disk, WORK, sync, (storage, k) => {
        // The live storage agrees with the model (its commit may run ahead after an install).
        const live = storageText(storage);
        const model = expectedText(WORK.models[k]!);
        expect(live.slice(1), `after op ${k - 1}`).toEqual(model.slice(1));
        for (const seq of segmentSeqs(disk)) seen.add(seq);
      });
      expect(acked).toBe(WORK.ops.length);
      const storage = await open(disk, sync);
      expect(storageText(storage)).toEqual(expectedText(WORK.models.at(-1)!));
      await storage.close();

      const { ops, models } = WORK;
      const count = (kind: Op['kind']) => ops.filter((o) => o.kind === kind).length;
      expect(count('compact')).toBeGreaterThanOrEqual(4);
      expect(count('reopen')).toBe(2);
      const installs = ops.flatMap((o, k) => (o.kind === 'install' ? [{ o, m: models[k]! }] : []));
      const heldAt = ({ o, m }: (typeof installs)[number]) => m.entries.find((e) => e.index === o.meta.index);
      expect(installs.some((i) => heldAt(i) !== undefined && heldAt(i)!.term !== i.o.meta.term)).toBe(true);
      expect(installs.some((i) => heldAt(i) === undefined && i.m.entries.length > 0)).toBe(true);
      expect(installs.some((i) => heldAt(i)?.term === i.o.meta.term)).toBe(true);
      expect(
        ops.some(
          (o, k) =>
            o.kind === 'save' && o.entries[0] !== undefined && o.entries[0].index <= lastIndex(models[k]!),
        ),
      ).toBe(true);
      // Segments rotated and the oldest were released; old snapshot files were deleted.
      expect(seen.size).toBeGreaterThan(8);
      expect(Math.min(...segmentSeqs(disk))).toBeGreaterThan(3);
      expect(disk.list(SNAP_DIR).length).toBeLessThanOrEqual(2);
      expect(await total).toBeGreaterThan(200);
    });

    for (const { mode, draws } of MODES) {
      const what = mode === 'none' ? 'lost' : `kept as a torn ${mode} (${draws} draws each)`;
      test(`a crash at every boundary, unsynced bytes ${what}, keeps every acknowledged call`, async () => {
        const n = await total;
        console.log(`seed=${SEED} ops=${WORK.ops.length} boundaries=${n} mode=${mode} walSync=${sync}`);
        for (let at = 0; at <= n; at++) {
          const disk = new SimulatedDisk();
          disk.stopAfter(at);
          const result = await run(disk, WORK, sync);
          for (let draw = 0; draw < draws; draw++) {
            const copy = disk.clone();
            copy.crash({ mode, rng: new Prng(SEED + at * 8 + draw) });
            const inFlight = result.opened ? (WORK.ops[result.acked]?.kind ?? 'none') : 'the first open';
            const where =
              `seed=${SEED} walSync=${sync} crash at boundary ${at} (${mode}, draw ${draw}), ` +
              `${result.acked} calls acknowledged, in flight: ${inFlight}`;
            await recoverAndCheck(copy, WORK, result, where, sync);
          }
        }
      });
    }
  });
