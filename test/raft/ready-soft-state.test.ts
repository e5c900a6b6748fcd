// A change of role or leader alone makes a Ready, so a host learns at once that it no longer leads.
import { describe, expect, test } from 'vitest';
import { Role } from '../../src/raft/types.js';
import { Cluster } from './harness.js';

describe('a change of role alone makes a Ready', () => {
  test('a leader that steps down by CheckQuorum has a Ready reporting role follower (thesis §6.2)', () => {
    const c = new Cluster({ config: { electionTicks: 10 } });
    c.elect('a');
    const a = c.node('a');
    for (let k = 0; k < 20; k++) {
      a.tick();
      if (a.raft.role !== Role.Leader) break;
      c.processAll();
      c.clearQueue(); // a hears from no one
    }
    expect(a.raft.role).toBe(Role.Follower);
    expect(a.hasReady()).toBe(true);
    const rd = a.ready();
    expect(rd.role).toBe(Role.Follower);
    expect(rd.lead).toBe('');
  });
});
