import { describe, expect, test } from 'vitest';
import { Role } from '../../src/raft/types.js';
import { Cluster, FixedRng, Lcg } from './harness.js';

describe('the test harness', () => {
  test('Lcg draws stay in [0, n) and repeat for the same seed', () => {
    const a = new Lcg(3);
    const b = new Lcg(3);
    for (let k = 0; k < 1000; k++) {
      const x = a.nextInt(7);
      expect(x).toBe(b.nextInt(7));
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(7);
    }
    expect(a.draws).toBe(1000);
    expect(new FixedRng(99).nextInt(10)).toBe(9);
  });

  test('same seed, same run: a cold-start election replays exactly', () => {
    const run = (seed: number) => {
      const c = new Cluster({ size: 5, seed });
      c.tickAll(40);
      return { trace: c.trace, delivered: c.delivered.length, leaders: c.leaders() };
    };
    const first = run(11);
    expect(first.leaders).toHaveLength(1);
    expect(run(11)).toEqual(first);
  });

  test('a cold-start cluster elects exactly one leader by ticking and every node applies its Empty entry', () => {
    const c = new Cluster({ size: 3, seed: 2 });
    c.tickAll(30);
    const [leader] = c.leaders();
    expect(leader).toBeDefined();
    for (const id of c.ids) {
      expect(c.raft(id).lead).toBe(leader);
      expect(c.applied.get(id)!.map((e) => e.index)).toEqual([1]);
      expect(c.raft(id).role).toBe(id === leader ? Role.Leader : Role.Follower);
    }
  });

  test('isolate drops every message to and from a node until heal', () => {
    const c = new Cluster();
    c.isolate('c');
    c.elect('a');
    expect(c.raft('a').role).toBe(Role.Leader);
    expect(c.raft('c').term).toBe(0);
    expect(c.delivered.some((m) => m.from === 'c' || m.to === 'c')).toBe(false);
    c.heal();
    c.tickAll(1);
    expect(c.raft('c').lead).toBe('a');
  });
});
