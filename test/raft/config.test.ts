import { describe, expect, test } from 'vitest';
import { ConfigError, FlotillaError, NotLeaderError } from '../../src/raft/errors.js';
import { RawNode } from '../../src/raft/raw-node.js';
import { Role } from '../../src/raft/types.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { Cluster, heartbeat, Lcg, Solo, type SoloOptions } from './harness.js';

function configError(o: SoloOptions): ConfigError {
  try {
    new Solo(o);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('config validation', () => {
  test('electionTicks equal to heartbeatTicks is refused with ERR_CONFIG', () => {
    const err = configError({ electionTicks: 3, heartbeatTicks: 3 });
    expect(err).toBeInstanceOf(FlotillaError);
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toContain('electionTicks (3) must be an integer above heartbeatTicks (3)');
  });

  test('electionTicks below heartbeatTicks is refused with ERR_CONFIG', () => {
    expect(configError({ electionTicks: 2, heartbeatTicks: 5 }).code).toBe('ERR_CONFIG');
  });

  test('voters that do not include this node are refused with ERR_CONFIG', () => {
    const err = configError({ id: 'a', voters: ['b', 'c'] });
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toContain('"a"');
  });

  test('an empty id, repeated voters and non-positive limits are refused with ERR_CONFIG', () => {
    expect(configError({ id: '', voters: [''] }).code).toBe('ERR_CONFIG');
    expect(configError({ voters: ['a', 'b', 'b'] }).code).toBe('ERR_CONFIG');
    expect(configError({ inflightMax: 0 }).code).toBe('ERR_CONFIG');
    expect(configError({ heartbeatTicks: 1.5 }).code).toBe('ERR_CONFIG');
    expect(configError({ electionTicks: 10.5 }).code).toBe('ERR_CONFIG');
  });

  test('defaults: electionTicks 10, heartbeatTicks 1, PreVote and CheckQuorum on', () => {
    const raw = new RawNode({ id: 'a', voters: ['a'], storage: new MemoryStorage(), rng: new Lcg(1) });
    expect(raw.raft.config).toMatchObject({
      electionTicks: 10,
      heartbeatTicks: 1,
      preVote: true,
      checkQuorum: true,
    });
  });
});

describe('proposals reach only the leader', () => {
  test('propose on a follower that knows no leader throws NotLeaderError without a hint', () => {
    const n = new Solo();
    let err: unknown;
    try {
      n.raw.propose([Uint8Array.of(1)]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NotLeaderError);
    expect((err as NotLeaderError).code).toBe('ERR_NOT_LEADER');
    expect((err as NotLeaderError).leaderHint).toBeUndefined();
    expect(n.raft.log.lastIndex()).toBe(0);
  });

  test('propose on a follower throws NotLeaderError naming the leader once it is known', () => {
    const n = new Solo({ id: 'b' });
    n.step(heartbeat({ from: 'a', to: 'b', term: 1 }));
    expect(() => n.raw.propose([Uint8Array.of(1)])).toThrow(
      expect.objectContaining({ code: 'ERR_NOT_LEADER', leaderHint: 'a' }),
    );
  });

  test('propose on a candidate or pre-candidate throws NotLeaderError', () => {
    const c = new Cluster({ size: 3 });
    c.node('a').campaign();
    expect(c.raft('a').role).toBe(Role.PreCandidate);
    expect(() => c.node('a').propose([Uint8Array.of(1)])).toThrow(NotLeaderError);
  });

  test('in a cluster every follower points proposals at the elected leader', () => {
    const c = new Cluster({ size: 3 });
    c.elect('b');
    for (const id of ['a', 'c']) {
      expect(() => c.node(id).propose([Uint8Array.of(1)])).toThrow(
        expect.objectContaining({ leaderHint: 'b' }),
      );
    }
    expect(c.node('b').propose([Uint8Array.of(1)])).toEqual({ term: 1, index: 2 });
  });
});
