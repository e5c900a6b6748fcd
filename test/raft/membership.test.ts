// Quorums of simple and joint configurations (thesis §4.3).
import { describe, expect, test } from 'vitest';
import {
  committedIndexOf,
  isQuorum,
  isVoter,
  members,
  quorumRound,
  simpleMembership,
  voteResult,
} from '../../src/raft/membership.js';
import { VoteResult } from '../../src/raft/quorum.js';
import { index } from '../../src/raft/types.js';

const joint = { voters: ['d', 'e', 'f'], outgoing: ['a', 'b', 'c'], learners: ['g'] };
const set =
  (...ids: string[]) =>
  (id: string) =>
    ids.includes(id);

describe('joint consensus quorums (thesis §4.3)', () => {
  test('a simple configuration needs a majority of its voters; learners never count', () => {
    const m = { ...simpleMembership(['a', 'b', 'c']), learners: ['l1', 'l2', 'l3'] };
    expect(isQuorum(m, set('a', 'b'))).toBe(true);
    expect(isQuorum(m, set('a', 'l1', 'l2', 'l3'))).toBe(false);
    expect(isVoter(m, 'l1')).toBe(false);
  });

  test('a joint configuration needs a majority of BOTH the old and the new voters', () => {
    expect(isQuorum(joint, set('a', 'b', 'c', 'd'))).toBe(false); // all old, one new
    expect(isQuorum(joint, set('d', 'e', 'f', 'a'))).toBe(false); // all new, one old
    expect(isQuorum(joint, set('a', 'b', 'd', 'e'))).toBe(true);
    expect(members(joint)).toEqual(['d', 'e', 'f', 'a', 'b', 'c', 'g']);
  });

  test('the commit index of a joint configuration is the smaller of the two halves', () => {
    const match: Record<string, number> = { a: 9, b: 9, c: 9, d: 4, e: 4, f: 1, g: 100 };
    expect(committedIndexOf(joint, (id) => index(match[id] ?? 0))).toBe(4);
  });

  test('an election in a joint configuration is won with both majorities and lost when either is out of reach', () => {
    const votes = (entries: [string, boolean][]) => new Map(entries);
    expect(
      voteResult(
        joint,
        votes([
          ['a', true],
          ['b', true],
          ['c', true],
        ]),
      ),
    ).toBe(VoteResult.Pending);
    expect(
      voteResult(
        joint,
        votes([
          ['a', true],
          ['b', true],
          ['d', true],
          ['e', true],
        ]),
      ),
    ).toBe(VoteResult.Won);
    expect(
      voteResult(
        joint,
        votes([
          ['d', false],
          ['e', false],
        ]),
      ),
    ).toBe(VoteResult.Lost);
  });

  test('the lease round is the newest round a quorum of each half answered', () => {
    const rounds: Record<string, number> = { a: 7, b: 7, c: 1, d: 9, e: 5, f: 1 };
    expect(quorumRound(joint, (id) => rounds[id] ?? 0)).toBe(5);
  });
});
