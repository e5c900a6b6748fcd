import { type Index, index } from './types.js';

/** The number of votes that make a majority of `voters`. */
export function quorumSize(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/**
 * The highest index stored on a majority, given each voter's match index (§5.3, §5.4.2). Sorts a
 * copy; callers pass one number per voter.
 */
export function committedIndex(matches: readonly Index[]): Index {
  if (matches.length === 0) return index(0);
  const sorted = Float64Array.from(matches).sort();
  return index(sorted[sorted.length - quorumSize(matches.length)]!);
}

export enum VoteResult {
  Pending = 'pending',
  Won = 'won',
  Lost = 'lost',
}

/** Tallies granted and rejected votes out of `voters` (§5.2). */
export function tallyVotes(votes: ReadonlyMap<string, boolean>, voters: number): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const v of votes.values()) {
    if (v) granted++;
    else rejected++;
  }
  const q = quorumSize(voters);
  if (granted >= q) return VoteResult.Won;
  if (rejected >= q) return VoteResult.Lost;
  return VoteResult.Pending;
}
