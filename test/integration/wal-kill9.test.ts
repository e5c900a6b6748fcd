import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Prng } from '../../src/sim/prng.js';
import { Wal } from '../../src/storage/wal/wal.js';
import { batchOf, batchSize, entryData } from './wal-kill9-child.js';

/**
 * A real process appends to a real WAL and is killed with SIGKILL at random moments; after each
 * kill every batch it acknowledged must be read back whole. Replay a run with WAL_KILL9_SEED=N.
 */

const ROUNDS = 8;
const ROUND_DEADLINE_MS = 20_000;
const CHILD = fileURLToPath(new URL('./wal-kill9-child.ts', import.meta.url));

let dir = '';
let child: ChildProcess | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-wal-kill9-'));
});

afterAll(async () => {
  // Only the child this test started, by its pid, and only if it is still running.
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    process.kill(child.pid, 'SIGKILL');
  }
  await rm(dir, { recursive: true, force: true });
});

/** Resolves when `ready()` holds, re-checked on every event `on` reports; rejects at the deadline. */
function until(
  what: string,
  ms: number,
  on: (check: () => void) => () => void,
  ready: () => boolean,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let off = (): void => {};
    const timer = setTimeout(() => {
      off();
      reject(new Error(`wal-kill9: timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const check = (): void => {
      if (!ready()) return;
      clearTimeout(timer);
      off();
      resolve();
    };
    off = on(check);
    check();
  });
}

interface Round {
  readonly proc: ChildProcess;
  readonly acks: number[];
  ready: boolean;
  closed: boolean;
  stderr: string;
  readonly listeners: Set<() => void>;
}

function start(): Round {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const round: Round = { proc, acks: [], ready: false, closed: false, stderr: '', listeners: new Set() };
  const notify = (): void => {
    for (const l of [...round.listeners]) l();
  };
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    if (line.startsWith('ready ')) round.ready = true;
    else if (line.startsWith('ack ')) round.acks.push(Number(line.slice(4)));
    notify();
  });
  proc.stderr!.on('data', (chunk: Buffer) => {
    round.stderr += chunk.toString();
  });
  // 'close' comes after the process exited and its stdout was read to the end.
  proc.on('close', () => {
    round.closed = true;
    notify();
  });
  return round;
}

function subscribe(round: Round): (check: () => void) => () => void {
  return (check) => {
    round.listeners.add(check);
    return () => round.listeners.delete(check);
  };
}

async function expectAcknowledgedPresent(acked: ReadonlySet<number>): Promise<number> {
  const { wal, recovered } = await Wal.open({ dir, segmentBytes: 16 * 1024 });
  await wal.close();
  const found = new Map<number, Uint8Array[]>();
  for (const e of recovered.entries) {
    const b = batchOf(e.data);
    const list = found.get(b) ?? [];
    list.push(e.data);
    found.set(b, list);
  }
  for (const b of acked) {
    const expected = Array.from({ length: batchSize(b) }, (_, k) => entryData(b, k));
    expect(found.get(b), `acknowledged batch ${b}`).toEqual(expected);
  }
  expect(recovered.hardState.commit).toBeLessThanOrEqual(recovered.entries.length);
  return recovered.entries.length;
}

test(`every batch acknowledged before kill -9 is there after restart (${ROUNDS} rounds)`, async () => {
  const seed = Number(process.env.WAL_KILL9_SEED ?? Date.now() % 1_000_000_000);
  console.log(
    `seed=${seed} (replay: WAL_KILL9_SEED=${seed} npx vitest run test/integration/wal-kill9.test.ts)`,
  );
  const rng = new Prng(seed);
  const acked = new Set<number>();
  for (let r = 1; r <= ROUNDS; r++) {
    const round = start();
    child = round.proc;
    const on = subscribe(round);
    const fail = (): boolean => round.closed && !round.ready;
    await until('the child to open its WAL', ROUND_DEADLINE_MS, on, () => round.ready || fail());
    expect(round.stderr, `child failed to start: ${round.stderr}`).toBe('');
    const target = rng.between(1, 40);
    await until(
      `${target} acks in round ${r}`,
      ROUND_DEADLINE_MS,
      on,
      () => round.acks.length >= target || round.closed,
    );
    expect(round.closed, `the child exited on its own: ${round.stderr}`).toBe(false);
    // A random moment within the next save, not a synchronisation: the kill may land anywhere.
    const jitterMs = rng.nextInt(4);
    if (jitterMs > 0) await new Promise((resolve) => setTimeout(resolve, jitterMs));
    process.kill(round.proc.pid!, 'SIGKILL');
    await until(`the killed child's exit in round ${r}`, ROUND_DEADLINE_MS, on, () => round.closed);
    expect(round.proc.signalCode).toBe('SIGKILL');
    for (const b of round.acks) acked.add(b);
    const held = await expectAcknowledgedPresent(acked);
    console.log(`round ${r}: ${round.acks.length} acks (total ${acked.size}), ${held} entries recovered`);
  }
  expect(acked.size).toBeGreaterThanOrEqual(ROUNDS);
}, 120_000);
