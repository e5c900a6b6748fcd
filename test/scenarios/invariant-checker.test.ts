import { describe, expect, test } from 'vitest';
import { type Entry, index, type NodeId, Role, term } from '../../src/raft/types.js';
import { Cluster, type ClusterOptions, SimulationFailure } from '../../src/sim/cluster.js';
import { INVARIANTS, SafetyViolation } from '../../src/sim/invariants.js';
import type { SimNode } from '../../src/sim/sim-node.js';

/*
 * Each test breaks one safety property on purpose and asserts that the simulator's checker names
 * it. The damage is done inside a scheduled event (`Cluster.schedule`), so the failure comes out
 * of the path every run takes: the event runs, every node is checked, the SafetyViolation becomes
 * a SimulationFailure. The damage imitates a core bug (a wrong role, a wrong commit index, a wrong
 * entry applied) or a disk that lies (an entry changed or lost after its fsync).
 */

const SEEDS = [1, 2, 3, 4, 5];
const encoder = new TextEncoder();

/** A 3-node cluster with a leader and one committed write, every node caught up. */
function settled(seed: number, options: Partial<ClusterOptions> = {}) {
  const c = new Cluster({ seed, ...options });
  expect(
    c.runUntil(() => c.leader() !== undefined, 2000),
    `seed=${seed}`,
  ).toBe(true);
  const leader = c.leader()!;
  const { index: at } = c.propose(leader, 'x=1');
  expect(
    c.runUntil(() => c.checker.committed.length >= at, 1000),
    `seed=${seed}`,
  ).toBe(true);
  c.runFor(100);
  const followers = [...c.nodes.keys()].filter((id) => id !== leader);
  return { c, leader, followers, term: c.node(leader).raw!.raft.term };
}

/** Runs `run`, which must stop the simulation; returns the failure. */
function failureOf(run: () => unknown): SimulationFailure {
  try {
    run();
  } catch (err) {
    if (err instanceof SimulationFailure) return err;
    throw err;
  }
  throw new Error('expected the run to stop with a SimulationFailure');
}

/** Damages the cluster inside one event at the current instant and runs that event. */
function inject(c: Cluster, label: string, damage: () => void): SimulationFailure {
  c.schedule(c.now, label, damage);
  return failureOf(() => c.runFor(0));
}

/** The failure is a SafetyViolation of exactly `invariant`. */
function expectViolation(f: SimulationFailure, invariant: string, seed: number): SafetyViolation {
  expect(f.cause, `seed=${seed}: ${f.message}`).toBeInstanceOf(SafetyViolation);
  const v = f.cause as SafetyViolation;
  expect(v.invariant, `seed=${seed}: ${v.message}`).toBe(invariant);
  expect(v.code).toBe('ERR_SAFETY_VIOLATION');
  return v;
}

/** The last entry of `n`'s log, with other bytes: same index and term, another command. */
function forgedLast(n: SimNode): Entry {
  const last = n.entryAt(n.lastIndex())!;
  return { ...last, data: encoder.encode('forged') };
}

describe('the safety checker reports each broken invariant by its number', () => {
  test('a second leader in a term is reported as I1 Election Safety (Figure 3, §5.2)', () => {
    for (const seed of SEEDS) {
      const { c, leader, followers, term: t } = settled(seed);
      const [f] = followers;
      const v = expectViolation(
        inject(c, `bug: ${f} makes itself leader in term ${t}`, () => {
          c.node(f!).raw!.raft.role = Role.Leader;
        }),
        INVARIANTS.electionSafety,
        seed,
      );
      expect(v.message).toContain(`two leaders in term ${t}: ${leader} and ${f}`);
    }
  });

  test('a leader that rewrites an entry of its own log is reported as I2 Leader Append-Only (Figure 3, §5.3)', () => {
    for (const seed of SEEDS) {
      const { c, leader } = settled(seed);
      const n = c.node(leader);
      const at = n.lastIndex();
      const v = expectViolation(
        inject(c, `disk lies: ${leader}'s entry ${at} changes`, () => n.storage.append([forgedLast(n)])),
        INVARIANTS.leaderAppendOnly,
        seed,
      );
      expect(v.message).toContain(`changed or removed its entry ${at}`);
    }
  });

  test('two logs holding different entries at one index and term are reported as I3 Log Matching (Figure 3, §5.3)', () => {
    for (const seed of SEEDS) {
      const { c, leader, followers } = settled(seed);
      const down = followers[1]!;
      c.crash(down);
      const real = c.propose(leader, 'x=2');
      expect(
        c.runUntil(() => c.checker.committed.length >= real.index, 1000),
        `seed=${seed}`,
      ).toBe(true);
      const n = c.node(down);
      expect(n.lastIndex(), `seed=${seed}`).toBe(real.index - 1);
      const forged: Entry = { ...c.checker.committed[real.index - 1]!, data: encoder.encode('forged') };
      const v = expectViolation(
        inject(c, `disk lies: ${down} holds another entry at ${real.index}/t${real.term}`, () =>
          n.storage.append([forged]),
        ),
        INVARIANTS.logMatching,
        seed,
      );
      expect(v.message).toContain(`node ${down} holds a different entry`);
      expect(v.message).toContain(`at index ${real.index} term ${real.term}`);
    }
  });

  test('a leader elected without a committed entry is reported as I4 Leader Completeness (Figure 3, §5.4)', () => {
    for (const seed of SEEDS) {
      const { c, leader, followers, term: t } = settled(seed);
      const [keeper, late] = followers as [NodeId, NodeId];
      // `late` misses y; y commits on the leader and `keeper`.
      c.crash(late);
      const y = c.propose(leader, 'y');
      expect(
        c.runUntil(() => c.checker.committed.length >= y.index, 1000),
        `seed=${seed}`,
      ).toBe(true);
      c.runFor(20);
      // keeper's disk loses y although its fsync succeeded; the crash hides the loss from I6.
      c.schedule(c.now, `disk lies: ${keeper} loses entry ${y.index} and crashes`, () => {
        const s = c.node(keeper).storage;
        // Writing entry y − 1 again drops everything after it (no compaction here: first index 1).
        s.append([s.allEntries()[y.index - 2]!]);
        s.setHardState({ ...s.hardState(), commit: index(Math.min(s.hardState().commit, y.index - 1)) });
        c.crash(keeper);
      });
      c.runFor(0);
      // The only node left with y goes down; the other two can elect each other.
      c.crash(leader);
      c.restart(keeper);
      c.restart(late);
      const f = failureOf(() => c.runFor(5000));
      const v = expectViolation(f, INVARIANTS.leaderCompleteness, seed);
      expect(v.message).toMatch(
        new RegExp(
          `leader [${keeper}${late}] of term \\d+ lacks committed entry ${y.index} \\(committed by term ${t}\\)`,
        ),
      );
    }
  });

  test('a state machine that applies another entry than the committed one is reported as I5 State Machine Safety (Figure 3, §5.4.3)', () => {
    for (const seed of SEEDS) {
      const { c, leader, followers } = settled(seed);
      const z = c.propose(leader, 'z');
      // Stops when the leader commits z, before any follower has heard of it.
      expect(
        c.runUntil(() => c.checker.committed.length >= z.index, 1000),
        `seed=${seed}`,
      ).toBe(true);
      const n = c.node(followers[0]!);
      expect(n.applied.length, `seed=${seed}`).toBe(z.index - 1);
      const forged: Entry = { ...c.checker.committed[z.index - 1]!, data: encoder.encode('forged') };
      const v = expectViolation(
        inject(c, `bug: ${n.id} applies a forged entry ${z.index}`, () => n.apply(forged)),
        INVARIANTS.stateMachineSafety,
        seed,
      );
      expect(v.message).toContain(`node ${n.id} applied entry ${z.index}`);
    }
  });

  test('a committed entry that leaves a log without a crash is reported as I6', () => {
    for (const seed of SEEDS) {
      const { c, followers } = settled(seed);
      const n = c.node(followers[0]!);
      const at = n.lastIndex();
      expect(n.commit(), `seed=${seed}`).toBe(at);
      const v = expectViolation(
        inject(c, `disk lies: ${n.id}'s committed entry ${at} changes`, () =>
          n.storage.append([forgedLast(n)]),
        ),
        INVARIANTS.committedStays,
        seed,
      );
      expect(v.message).toContain(`node ${n.id} lost committed entry ${at}`);
    }
  });

  test('a leader that no quorum voted for is reported as I7 Election quorum (§5.2)', () => {
    for (const seed of SEEDS) {
      const { c, followers, term: t } = settled(seed);
      const f = followers[0]!;
      const v = expectViolation(
        inject(c, `bug: ${f} leads term ${t + 1} without an election`, () => {
          const r = c.node(f).raw!.raft;
          r.term = term(t + 1);
          r.role = Role.Leader;
        }),
        INVARIANTS.electionQuorum,
        seed,
      );
      expect(v.message).toContain(`node ${f} leads term ${t + 1} with votes from [${f}] only`);
    }
  });

  test('a leader that commits an entry only it holds is reported as I8 Commit quorum (§5.3)', () => {
    for (const seed of SEEDS) {
      const { c, leader, followers } = settled(seed);
      for (const f of followers) c.crash(f);
      const z = c.propose(leader, 'z');
      c.runFor(10);
      const v = expectViolation(
        inject(c, `bug: ${leader} commits ${z.index} alone`, () =>
          c.node(leader).raw!.raft.log.commitTo(z.index),
        ),
        INVARIANTS.commitQuorum,
        seed,
      );
      expect(v.message).toContain(`committed ${z.index}, durable only on [${leader}]`);
    }
  });
});

describe('a SimulationFailure tells how to find the bug again', () => {
  test('it carries the seed, the step, the virtual time, the replay command and the last events', () => {
    const seed = 7;
    const { c, followers } = settled(seed);
    const f = followers[0]!;
    const label = `bug: ${f} makes itself leader`;
    const failure = inject(c, label, () => {
      c.node(f).raw!.raft.role = Role.Leader;
    });
    expect(failure.code).toBe('ERR_SIMULATION_FAILURE');
    expect(failure.seed).toBe(seed);
    expect(failure.step).toBe(c.steps);
    expect(failure.at).toBe(c.now);
    const lines = failure.message.split('\n');
    expect(lines[0]).toBe(`seed=${seed} step=${c.steps} t=${c.now}ms: ${failure.cause.message}`);
    expect(lines[1]).toBe(`replay: npm run sim -- --seed ${seed}`);
    expect(lines[2]).toBe('last events:');
    // The trace: the last 40 events, oldest first, each stamped with its virtual time, the
    // injected one last; delivered messages read as sender→receiver, type and term.
    expect(failure.trace).toHaveLength(40);
    for (const line of failure.trace) expect(line).toMatch(/^t=\d+(\.\d)? \S/);
    expect(failure.trace.at(-1)).toBe(`t=${c.now} ${label}`);
    expect(failure.trace.some((l) => /deliver [abc]→[abc] [a-z-]+ t\d+/.test(l))).toBe(true);
    expect(lines.slice(3)).toEqual(failure.trace.map((l) => `  ${l}`));
  });

  test('the replay command carries the flags the run needs, and traceMax bounds the trace', () => {
    const { c, followers } = settled(8, { replayArgs: '--membership --no-prevote', traceMax: 5 });
    const failure = inject(c, 'bug', () => {
      c.node(followers[0]!).raw!.raft.role = Role.Leader;
    });
    expect(failure.message).toContain('\nreplay: npm run sim -- --seed 8 --membership --no-prevote\n');
    expect(failure.trace).toHaveLength(5);
  });

  test('the same seed and the same damage fail at the same step with the same trace', () => {
    const run = () => {
      const { c, leader } = settled(9);
      const n = c.node(leader);
      return inject(c, 'disk lies', () => n.storage.append([forgedLast(n)]));
    };
    const first = run();
    const second = run();
    expect(second.step).toBe(first.step);
    expect(second.message).toBe(first.message);
  });
});
