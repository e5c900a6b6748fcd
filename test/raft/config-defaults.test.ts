// An option passed as `undefined` keeps its default (PreVote and CheckQuorum stay on).
import { describe, expect, test } from 'vitest';
import { RawNode } from '../../src/raft/raw-node.js';
import { Role } from '../../src/raft/types.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import { Lcg } from './harness.js';

interface HostOptions {
  preVote?: boolean;
  checkQuorum?: boolean;
  electionTicks?: number;
  heartbeatTicks?: number;
}

function nodeFrom(host: HostOptions): RawNode {
  return new RawNode({
    id: 'a',
    voters: ['a', 'b', 'c'],
    storage: new MemoryStorage(),
    rng: new Lcg(1),
    preVote: host.preVote,
    checkQuorum: host.checkQuorum,
    electionTicks: host.electionTicks,
    heartbeatTicks: host.heartbeatTicks,
  });
}

describe('an option given as undefined takes its default', () => {
  test('preVote: undefined and checkQuorum: undefined leave PreVote and CheckQuorum on (thesis §9.6, §6.2)', () => {
    const raw = new RawNode({
      id: 'a',
      voters: ['a', 'b', 'c'],
      storage: new MemoryStorage(),
      rng: new Lcg(1),
      preVote: undefined,
      checkQuorum: undefined,
    });
    expect(raw.raft.config.preVote).toBe(true);
    expect(raw.raft.config.checkQuorum).toBe(true);
    // Observable effect today: campaign skips PreVote and raises the term at once.
    raw.campaign();
    expect(raw.raft.role).toBe(Role.PreCandidate);
    expect(raw.raft.term).toBe(0);
  });

  test('electionTicks: undefined and heartbeatTicks: undefined take 10 and 1 instead of throwing ConfigError', () => {
    const raw = nodeFrom({});
    expect(raw.raft.config.electionTicks).toBe(10);
    expect(raw.raft.config.heartbeatTicks).toBe(1);
  });
});
