import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SimulationFailure } from './cluster.js';
import { describeReads, sumReads } from './history-check.js';
import {
  describeMembershipCounts,
  describeMembershipDetail,
  type MembershipCounts,
  sumMembershipCounts,
} from './membership-nemesis.js';
import { type RandomRunOptions, type RandomRunResult, randomRun, replayFlags } from './random-run.js';

const USAGE = `usage: npm run sim -- [--seed N [--history FILE] | --seeds N [--from S]] [--fault-ms MS]
                      [--membership] [--no-prevote] [--no-checkquorum] [--no-lease] [--drift-bound B]

  Each seed draws PreVote, CheckQuorum and lease reads on or off unless a --no-* flag pins them
  off. Clients write and read (linearizable, lease, stale) throughout; each run's history is
  checked for linearizability (stale reads left out).

  --seed N          replay one run exactly and print its fault schedule
  --history FILE    with --seed: write the run's client history (JSON Lines) for \`flotilla check\`
  --seeds N         run N seeds (from --from, default 1) and print how many passed and the slowest
                    elections; the first failing seed is printed in full (step, cause, replay
                    command, last events), later ones in one line each; exit code 1 if any failed
  --fault-ms MS     virtual milliseconds of faults before healing (default 2000)
  --drift-bound B   each node's clock drifts within ±B; leases allow for B (default 0.1)
  --membership      membership changes too: 5–6 node slots, 3 (or 1) initial voters, and a nemesis
                    asking the leader to add, promote, remove, replace voters and learners and to
                    transfer leadership throughout the faults (a replay needs the flag too)

example: npm run sim -- --seeds 1000; npm run sim -- --membership --seeds 1000`;

/** `npm run sim`: randomized runs of the real core under faults, every step checked. */
export function main(argv: readonly string[]): number {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 64;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const options: RandomRunOptions = {
    faultMs: Number(args['fault-ms'] ?? 2000),
    ...(args.membership ? { membership: true } : {}),
    ...(args['no-prevote'] ? { preVote: false } : {}),
    ...(args['no-checkquorum'] ? { checkQuorum: false } : {}),
    ...(args['no-lease'] ? { leaseReads: false } : {}),
    ...(args['drift-bound'] === undefined ? {} : { clockDriftBound: Number(args['drift-bound']) }),
  };
  if (args.seed !== undefined) {
    const file = args.history;
    const write = file === undefined ? {} : { onHistory: (jsonl: string) => writeFileSync(file, jsonl) };
    return replay(Number(args.seed), { ...options, ...write });
  }
  const count = Number(args.seeds ?? 100);
  const from = Number(args.from ?? 1);
  return many(from, count, options, replayFlags(options));
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    options: {
      seed: { type: 'string' },
      seeds: { type: 'string' },
      from: { type: 'string' },
      'fault-ms': { type: 'string' },
      'no-prevote': { type: 'boolean' },
      'no-checkquorum': { type: 'boolean' },
      'no-lease': { type: 'boolean' },
      'drift-bound': { type: 'string' },
      membership: { type: 'boolean' },
      history: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
}

function replay(seed: number, options: RandomRunOptions): number {
  try {
    const r = randomRun(seed, options);
    for (const f of r.faults) console.log(`  ${f}`);
    console.log(summary(r));
    console.log(describeReads(r.reads, r.opsChecked));
    if (r.membership !== undefined) {
      console.log(describeMembershipDetail(r.membership));
      console.log(`  final members: ${r.finalMembers.join(',')}`);
    }
    return 0;
  } catch (err) {
    if (!(err instanceof SimulationFailure)) throw err;
    console.error(err.message);
    return 1;
  }
}

/**
 * Runs seeds from..from+count−1. The first failing seed is printed in full (seed, step, cause,
 * replay command, last events), each later one on one line; any failure makes the exit code 1.
 */
function many(from: number, count: number, options: RandomRunOptions, flags: string): number {
  const results: RandomRunResult[] = [];
  const failed: number[] = [];
  const started = performance.now();
  for (let seed = from; seed < from + count; seed++) {
    try {
      results.push(randomRun(seed, options));
    } catch (err) {
      failed.push(seed);
      const report = describeFailure(seed, err as Error, flags);
      console.error(failed.length === 1 ? `FAIL ${report}\n` : `FAIL ${report.split('\n')[0]}`);
    }
  }
  const secs = (performance.now() - started) / 1000;
  console.log(`${results.length}/${count} seeds passed in ${secs.toFixed(1)}s`);
  const total = sumReads(results.map((r) => r.reads));
  const ops = results.reduce((n, r) => n + r.opsChecked, 0);
  console.log(describeReads(total, ops));
  const changes = results.map((r) => r.membership).filter((m): m is MembershipCounts => m !== undefined);
  if (changes.length > 0) {
    const sum = sumMembershipCounts(changes);
    console.log(`${describeMembershipCounts(sum)}\n${describeMembershipDetail(sum)}`);
  }
  const slowest = [...results].sort((a, b) => b.firstElectionMs - a.firstElectionMs).slice(0, 5);
  console.log(
    `slowest first elections: ${slowest.map((r) => `seed ${r.seed}: ${ms(r.firstElectionMs)}`).join(', ')}`,
  );
  const recovery = [...results].sort((a, b) => b.recoveryMs - a.recoveryMs).slice(0, 5);
  console.log(
    `slowest recoveries after healing: ${recovery.map((r) => `seed ${r.seed}: ${ms(r.recoveryMs)}`).join(', ')}`,
  );
  if (failed.length > 0) {
    console.log(
      `${failed.length} seeds failed: ${failed.join(' ')} (the first is printed in full above; ` +
        `replay one: npm run sim -- --seed N${flags === '' ? '' : ` ${flags}`})`,
    );
  }
  return failed.length === 0 ? 0 : 1;
}

/**
 * A failed seed as the lines to print: a SimulationFailure's own message (seed, step, cause,
 * replay, last events); anything else is a bug of the simulator itself, shown with its stack.
 */
function describeFailure(seed: number, err: Error, flags: string): string {
  if (err instanceof SimulationFailure) return err.message;
  const replay = `npm run sim -- --seed ${seed}${flags === '' ? '' : ` ${flags}`}`;
  const head = `seed=${seed}: the simulator itself threw ${err.name}: ${err.message.split('\n')[0]}`;
  return `${head}\nreplay: ${replay}\n${err.stack ?? err.message}`;
}

function summary(r: RandomRunResult): string {
  return (
    `seed=${r.seed} nodes=${r.nodes}${r.membership === undefined ? '' : ` voters=${r.initialVoters}`} preVote=${r.preVote} checkQuorum=${r.checkQuorum} leaseReads=${r.leaseReads} ` +
    `steps=${r.steps} committed=${r.committed} acked=${r.acked} ` +
    (r.membership === undefined ? '' : `${describeMembershipCounts(r.membership)}; `) +
    `first election ${ms(r.firstElectionMs)}, converged ${ms(r.recoveryMs)} after healing: ok`
  );
}

const ms = (t: number): string => `${t.toFixed(1)}ms`;

process.exitCode = main(process.argv.slice(2));
