import { parseArgs } from 'node:util';
import { runPartitionScenario } from './partition-scenario.js';
import { runReadScenario } from './read-scenario.js';

const USAGE = `usage: npm run scenario -- [--seed N] [--crash] [--no-checkquorum]
       npm run scenario -- --reads [--seed N] [--leader-drift D] [--tick-ms T]

Plays the deposed-leader scenario on the real Raft core in the deterministic simulator and prints
its timeline: leader A is cut off alone, {A} | {B, C}; A keeps taking writes that never commit;
B and C elect a new leader in a higher term; the partition heals; A cannot lead again and its
uncommitted entries are overwritten.

  --seed N           another run of the same story (default 7)
  --crash            A crashes during the partition and reboots after it heals
  --no-checkquorum   A keeps believing it leads until it hears the higher term

  --reads            the read paths instead: after B's side overwrote x, A is asked for x with
                     consistency linearizable, lease and stale (see docs/reads.md)
  --leader-drift D   with --reads: A's clock rate error (default -0.1, the slowest the bound allows;
                     try --leader-drift=-0.5 to see a lease outlive the election)
  --tick-ms T        with --reads: the tick length (default 10; RaftNode's default is 100)

example: npm run scenario -- --crash; npm run scenario -- --reads --leader-drift=-0.5`;

function main(argv: readonly string[]): number {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      seed: { type: 'string' },
      crash: { type: 'boolean' },
      'no-checkquorum': { type: 'boolean' },
      reads: { type: 'boolean' },
      'leader-drift': { type: 'string' },
      'tick-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const seed = Number(values.seed ?? 7);
  if (!Number.isInteger(seed)) {
    console.error(`--seed must be an integer\n\n${USAGE}`);
    return 64;
  }
  if (values.reads) return reads(seed, values['leader-drift'], values['tick-ms']);
  console.log('Flotilla — the deposed-leader scenario, on the real core in virtual time\n');
  const r = runPartitionScenario({
    seed,
    crashDuringPartition: values.crash ?? false,
    checkQuorum: !values['no-checkquorum'],
    print: (line) => console.log(line),
  });
  const a = r.oldLeader;
  const c = r.cluster;
  const decoder = new TextDecoder();
  const committed = c.checker.committed.map((e) => decoder.decode(e.data)).filter((s) => s !== '');
  const survived = r.strandedWrites.filter((w) => committed.includes(w.payload));
  console.log('\nWhat happened:');
  console.log(
    `  - ${a} led term ${r.oldTerm}; cut off, it accepted ${r.strandedWrites.length} writes at indexes ` +
      `${r.strandedWrites.map((w) => w.index).join(', ')} and its commit index stayed at ${r.oldCommitAtHeal}.`,
  );
  console.log(`  - ${r.newLeader} was elected in term ${r.newTerm} on the majority side.`);
  console.log(
    r.stepDownAfterMs >= 0
      ? `  - ${a} stopped leading ${r.stepDownAfterMs}ms after the cut (election timeout ${r.electionTimeoutMs}ms).`
      : `  - ${a} did not step down before the partition healed (${values.crash ? 'it crashed' : 'CheckQuorum off'}).`,
  );
  console.log(
    `  - after healing, ${a} ${r.oldLeaderWonWithStaleLog ? 'WON an election with its stale log (a bug!)' : 'could not win an election with its stale log'}; ` +
      `${survived.length === 0 ? 'none' : survived.length} of its stranded writes survived; ` +
      `committed log: ${committed.join(' ')}`,
  );
  console.log(
    '\nAnother run: npm run scenario -- --seed 3 --crash; randomized runs: npm run sim -- --seeds 1000',
  );
  return r.oldLeaderWonWithStaleLog || survived.length > 0 ? 1 : 0;
}

function reads(seed: number, leaderDrift: string | undefined, tickMs: string | undefined): number {
  console.log('Flotilla — reads at a deposed leader, on the real core in virtual time\n');
  const r = runReadScenario({
    seed,
    ...(leaderDrift === undefined ? {} : { leaderDrift: Number(leaderDrift) }),
    ...(tickMs === undefined ? {} : { tickMs: Number(tickMs) }),
    print: (line) => console.log(line),
  });
  const a = r.oldLeader;
  const served = r.leaseReadsAtA.filter((op) => op.path === 'lease');
  console.log('\nWhat happened:');
  console.log(
    `  - ${a} served ${served.length} lease reads without a round trip after the cut, the last at ` +
      `t=${served.at(-1)?.endedAt.toFixed(1) ?? '-'}ms; ${r.newLeader} acknowledged x = new at t=${r.overwriteAckedAt.toFixed(1)}ms.`,
  );
  for (const op of [r.linearizable, r.lease, r.stale]) {
    const what =
      op.status === 'ok' ? `returned "${op.value}" (served by ${op.path})` : `${op.status}: ${op.reason}`;
    console.log(`  - ${op.consistency} read at ${a}: ${what}`);
  }
  console.log(
    r.check.explanation === undefined
      ? '  - the client history (stale reads aside) is linearizable'
      : `  - the client history is NOT linearizable:\n${r.check.explanation}`,
  );
  return r.check.explanation === undefined ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
