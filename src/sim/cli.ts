import { parseArgs } from 'node:util';
import { SimulationFailure } from './cluster.js';
import { type RandomRunResult, randomRun } from './random-run.js';

const USAGE = `usage: npm run sim -- [--seed N | --seeds N [--from S]] [--fault-ms MS] [--no-prevote] [--no-checkquorum]

  Each seed draws PreVote and CheckQuorum on or off unless a --no-* flag pins them off.

  --seed N        replay one run exactly and print its fault schedule
  --seeds N       run N seeds (from --from, default 1) and print how many passed and the slowest elections
  --fault-ms MS   virtual milliseconds of faults before healing (default 2000)

example: npm run sim -- --seeds 1000`;

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
  const options = {
    faultMs: Number(args['fault-ms'] ?? 2000),
    ...(args['no-prevote'] ? { preVote: false } : {}),
    ...(args['no-checkquorum'] ? { checkQuorum: false } : {}),
  };
  if (args.seed !== undefined) return replay(Number(args.seed), options);
  const count = Number(args.seeds ?? 100);
  const from = Number(args.from ?? 1);
  return many(from, count, options);
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
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
}

function replay(seed: number, options: Parameters<typeof randomRun>[1]): number {
  try {
    const r = randomRun(seed, options);
    for (const f of r.faults) console.log(`  ${f}`);
    console.log(summary(r));
    return 0;
  } catch (err) {
    if (!(err instanceof SimulationFailure)) throw err;
    console.error(err.message);
    return 1;
  }
}

function many(from: number, count: number, options: Parameters<typeof randomRun>[1]): number {
  const results: RandomRunResult[] = [];
  const failed: number[] = [];
  const started = performance.now();
  for (let seed = from; seed < from + count; seed++) {
    try {
      results.push(randomRun(seed, options));
    } catch (err) {
      if (!(err instanceof SimulationFailure)) throw err;
      failed.push(seed);
      console.error(`FAIL ${err.message.split('\n')[0]}`);
    }
  }
  const secs = (performance.now() - started) / 1000;
  console.log(`${results.length}/${count} seeds passed in ${secs.toFixed(1)}s`);
  const slowest = [...results].sort((a, b) => b.firstElectionMs - a.firstElectionMs).slice(0, 5);
  console.log(
    `slowest first elections: ${slowest.map((r) => `seed ${r.seed}: ${r.firstElectionMs}ms`).join(', ')}`,
  );
  const recovery = [...results].sort((a, b) => b.recoveryMs - a.recoveryMs).slice(0, 5);
  console.log(
    `slowest recoveries after healing: ${recovery.map((r) => `seed ${r.seed}: ${r.recoveryMs}ms`).join(', ')}`,
  );
  if (failed.length > 0) console.log(`failed seeds: ${failed.join(' ')} (replay: npm run sim -- --seed N)`);
  return failed.length === 0 ? 0 : 1;
}

function summary(r: RandomRunResult): string {
  return (
    `seed=${r.seed} nodes=${r.nodes} preVote=${r.preVote} checkQuorum=${r.checkQuorum} steps=${r.steps} committed=${r.committed} acked=${r.acked} ` +
    `first election ${r.firstElectionMs}ms, converged ${r.recoveryMs}ms after healing: ok`
  );
}

process.exitCode = main(process.argv.slice(2));
