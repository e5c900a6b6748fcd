import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { Operation, Scalar } from '../../src/check/history.js';
import { DEFAULT_BUDGET, searchLinearization } from '../../src/check/linearizability.js';
import { kvModel } from '../../src/check/register-model.js';
import { checkKv, type TestEvent } from './build.js';

// fast-check prints the seed and path of a failing run; replay it with
// FC_SEED=<seed> FC_PATH=<path> npx vitest run test/check/property.test.ts
const replay = {
  seed: process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED),
  path: process.env.FC_PATH,
};

const KEYS = ['a', 'b', 'c'] as const;
const VALUES: readonly Scalar[] = [1, 2, 3, '1', true];
/** Never written by a generated history. */
const NEVER_WRITTEN = 'never-written';

type Ending = 'complete' | 'info' | 'never';

interface Command {
  readonly f: 'get' | 'put' | 'delete' | 'cas';
  readonly key: string;
  readonly value: Scalar;
  readonly expected: Scalar;
  /** How long before and after its linearization point the operation was called and returned. */
  readonly before: number;
  readonly after: number;
  readonly ending: Ending;
  /** For an unknown ending: whether the operation took effect. */
  readonly tookEffect: boolean;
  /** For an `info` ending: when the client gave up, after the call (maybe before the effect). */
  readonly infoDelay: number;
}

const command: fc.Arbitrary<Command> = fc.record({
  f: fc.constantFrom('get', 'put', 'delete', 'cas'),
  key: fc.constantFrom(...KEYS),
  value: fc.constantFrom(...VALUES),
  expected: fc.constantFrom(null, ...VALUES),
  before: fc.integer({ min: 0, max: 45 }),
  // At least 1: at equal times only the line order says which came first, and the lines are shuffled.
  after: fc.integer({ min: 1, max: 45 }),
  ending: fc.constantFrom<Ending>(
    'complete',
    'complete',
    'complete',
    'complete',
    'complete',
    'info',
    'never',
  ),
  tookEffect: fc.boolean(),
  infoDelay: fc.integer({ min: 1, max: 60 }),
});

interface Timed {
  readonly cmd: Command;
  readonly call: number;
  /** Time of the completion event, or undefined when it never completes. */
  readonly end: number | undefined;
  readonly type: 'ok' | 'fail' | 'info';
  /** The value a get read; otherwise the command's value. */
  readonly value: Scalar;
}

/** Runs the commands one after the other on the KV model, one every 20 time units. */
function runSequentially(commands: readonly Command[]): Timed[] {
  const state = new Map<string, Scalar>();
  return commands.map((cmd, i) => {
    const point = 1000 + 20 * i;
    const call = point - cmd.before;
    const held = state.get(cmd.key) ?? null;
    const applies = cmd.ending === 'complete' || cmd.tookEffect;
    let type: 'ok' | 'fail' = 'ok';
    if (cmd.f === 'put' && applies) state.set(cmd.key, cmd.value);
    if (cmd.f === 'delete' && applies) state.set(cmd.key, null);
    if (cmd.f === 'cas') {
      type = held === cmd.expected ? 'ok' : 'fail';
      if (type === 'ok' && applies) state.set(cmd.key, cmd.value);
    }
    const value = cmd.f === 'get' ? held : cmd.value;
    if (cmd.ending === 'never') return { cmd, call, end: undefined, type, value };
    if (cmd.ending === 'info') return { cmd, call, end: call + cmd.infoDelay, type: 'info', value };
    return { cmd, call, end: point + cmd.after, type, value };
  });
}

/** Gives each operation a process that is idle at its call: one operation open per process. */
function toEvents(timed: readonly Timed[]): TestEvent[] {
  const busyUntil: number[] = [];
  const events: TestEvent[] = [];
  for (const t of [...timed].sort((a, b) => a.call - b.call)) {
    let process = busyUntil.findIndex((until) => until < t.call);
    if (process === -1) process = busyUntil.push(0) - 1;
    busyUntil[process] = t.end ?? Number.POSITIVE_INFINITY;
    const { f, key, expected } = t.cmd;
    const invokeValue = f === 'get' || f === 'delete' ? undefined : t.cmd.value;
    events.push({
      time: t.call,
      process,
      type: 'invoke',
      f,
      key,
      value: invokeValue,
      expected: f === 'cas' ? expected : undefined,
    });
    if (t.end === undefined) continue;
    const endValue = f === 'get' && t.type === 'ok' ? t.value : undefined;
    events.push({ time: t.end, process, type: t.type, f, key, value: endValue });
  }
  return events;
}

/** The lines in a seeded order: the checker orders events by time, not by line. */
function shuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed | 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) | 0;
    const j = (s >>> 8) % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

describe('histories generated from a sequential run of the KV model', () => {
  test('are linearizable, whatever their overlap, info endings and line order', () => {
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 40 }), fc.integer(), (commands, seed) => {
        const events = shuffle(toEvents(runSequentially(commands)), seed);
        const result = checkKv(events);
        expect(result.verdict).toBe('ok');
      }),
      { ...replay, numRuns: 200 },
    );
  });

  test('are not linearizable once one read returns a value never written', () => {
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 40 }), fc.nat(), (commands, pick) => {
        const events = toEvents(runSequentially(commands));
        const reads = events.filter((e) => e.f === 'get' && e.type === 'ok');
        fc.pre(reads.length > 0);
        const victim = reads[pick % reads.length] as TestEvent;
        const corrupted = events.map((e) => (e === victim ? { ...e, value: NEVER_WRITTEN } : e));
        const result = checkKv(corrupted);
        expect(result.verdict).toBe('violation');
        const bad = result.keys.filter((k) => k.verdict === 'violation').map((k) => k.key);
        expect(bad).toEqual([victim.key]);
      }),
      { ...replay, numRuns: 200 },
    );
  });
});

/** Tries every order (and every subset of the unknown operations): the definition, slowly. */
function bruteForce(ops: readonly Operation[]): boolean {
  const placed = new Set<number>();
  const mustPrecede = (before: Operation, op: Operation): boolean => before.ret < op.call;
  const search = (state: Scalar): boolean => {
    const left = ops.filter((op) => !placed.has(op.id));
    if (left.every((op) => op.outcome === 'unknown')) return true;
    for (const op of left) {
      if (left.some((other) => mustPrecede(other, op))) continue;
      const next = kvModel.step(state, op);
      if (next === undefined) continue;
      placed.add(op.id);
      if (search(next)) return true;
      placed.delete(op.id);
    }
    return false;
  };
  return search(kvModel.init());
}

const randomOperation = fc.record({
  f: fc.constantFrom('get', 'put', 'delete', 'cas'),
  value: fc.constantFrom<Scalar>(null, 1, 2),
  expected: fc.constantFrom<Scalar>(null, 1, 2),
  call: fc.integer({ min: 0, max: 12 }),
  duration: fc.integer({ min: 0, max: 8 }),
  outcome: fc.constantFrom('ok', 'ok', 'fail', 'unknown'),
});

describe('random small histories, about half of them linearizable', () => {
  test('get the same verdict from the search as from trying every order', () => {
    fc.assert(
      fc.property(fc.array(randomOperation, { minLength: 1, maxLength: 7 }), (drafts) => {
        const ops: Operation[] = drafts
          .map((d, i) => ({
            id: 0,
            process: i,
            f: d.f,
            key: 'k',
            value: d.f === 'delete' ? null : d.value,
            expected: d.f === 'cas' ? d.expected : null,
            // Only a cas can fail and stay in the history; a read of unknown outcome is dropped.
            outcome:
              d.outcome === 'fail' && d.f !== 'cas'
                ? 'ok'
                : d.outcome === 'unknown' && d.f === 'get'
                  ? 'ok'
                  : d.outcome,
            call: d.call,
            ret: d.outcome === 'unknown' && d.f !== 'get' ? Number.POSITIVE_INFINITY : d.call + d.duration,
            line: i + 1,
            retLine: i + 1,
          }))
          .sort((a, b) => a.call - b.call)
          .map((op, id) => ({ ...op, id }));
        const outcome = searchLinearization(kvModel, ops, DEFAULT_BUDGET);
        expect(outcome.verdict).toBe(bruteForce(ops) ? 'ok' : 'violation');
      }),
      { ...replay, numRuns: 1000 },
    );
  });
});
