import { mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { NEVER_APPLIED } from './kv-http.js';
import { EXIT, formatSummary } from './report.js';
import { DEFAULTS, type NemesisOptions, runNemesis } from './runner.js';
import type { Scenario } from './scenario.js';
import { SCENARIOS } from './scenarios.js';

const USAGE = `usage: npm run nemesis -- [options]

Starts real flotilla serve processes whose peer links run through fault-injecting proxies, runs
client workers against them while the chosen scenarios inject faults, then heals everything,
checks that the cluster recovers, that the client history is linearizable and that no
acknowledged write was lost. Writes history.jsonl, faults.jsonl, summary.json, summary.txt,
report.html and the nodes' logs to the output folder.

options:
  --scenario NAME[,NAME]   the scenarios to run, or "all" (default); see below
  --duration S             seconds of faults for the whole run, shared by the scenarios
                           (default ${DEFAULTS.durationS}; each scenario gets at least 3)
  --seed N                 the fault schedule's seed (default: random, printed)
  --nodes N                cluster size, 3 to 7 (default ${DEFAULTS.nodes})
  --clients N              client workers (default ${DEFAULTS.clients})
  --snapshot-entries N     the nodes' --snapshot-entries (default ${DEFAULTS.snapshotEntries})
  --election-timeout-ms MS the nodes' election timeout (default ${DEFAULTS.electionTimeoutMs})
  --recovery-s S           seconds the cluster may take to recover after a scenario (default ${DEFAULTS.recoveryS})
  --check-ms-max MS        per-key budget of the linearizability search (default ${DEFAULTS.checkMsMax})
  --distrust CODE[,CODE]   record these 503 codes as unknown outcomes, not "never applied", to tell
                           which promise a violation breaks (${[...NEVER_APPLIED].slice(0, 2).join(', ')},
                           ${[...NEVER_APPLIED].slice(2).join(', ')})
  --out DIR                output folder (default: a new folder in the system temp dir)
  --no-lease-reads         start the nodes without --lease-reads (lease reads then fall back to ReadIndex)
  --keep-data              keep the nodes' data folders even when the run passes
  -h, --help               show this help

scenarios, in the order "all" runs them:
${SCENARIOS.map((x) => `  ${x.name.padEnd(24)} ${x.title}`).join('\n')}

exit status: 0 no violation, 1 violation, 2 the checker could not decide, 3 the cluster did not
recover (or the harness failed), 64 usage error.

examples:
  npm run nemesis -- --scenario leader-paused --duration 20
  npm run nemesis -- --duration 600 --seed 42          # a ten-minute soak
  npm run nemesis -- --scenario all --seed 42          # replays the schedule of seed 42`;

class UsageError extends Error {}

function integer(flag: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) {
    throw new UsageError(`--${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return n;
}

function pickScenarios(text: string | undefined): Scenario[] {
  if (text === undefined || text === 'all') return [...SCENARIOS];
  return text.split(',').map((name) => {
    const s = SCENARIOS.find((x) => x.name === name.trim());
    if (s === undefined) {
      throw new UsageError(
        `unknown scenario ${JSON.stringify(name)}; known: ${SCENARIOS.map((x) => x.name).join(', ')}, all`,
      );
    }
    return s;
  });
}

function distrusted(text: string | undefined): string[] {
  if (text === undefined || text === '') return [];
  return text.split(',').map((code) => {
    if (!NEVER_APPLIED.has(code.trim())) {
      throw new UsageError(
        `--distrust takes codes among ${[...NEVER_APPLIED].join(', ')}, got ${JSON.stringify(code)}`,
      );
    }
    return code.trim();
  });
}

/** Parses the command line; `help` when --help was asked. */
export function parseNemesisArgs(
  argv: readonly string[],
  print: (line: string) => void,
): NemesisOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      scenario: { type: 'string' },
      duration: { type: 'string' },
      seed: { type: 'string' },
      nodes: { type: 'string' },
      clients: { type: 'string' },
      'snapshot-entries': { type: 'string' },
      'election-timeout-ms': { type: 'string' },
      'recovery-s': { type: 'string' },
      'check-ms-max': { type: 'string' },
      distrust: { type: 'string' },
      out: { type: 'string' },
      'keep-data': { type: 'boolean' },
      'no-lease-reads': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) return 'help';
  const electionTimeoutMs = integer(
    'election-timeout-ms',
    values['election-timeout-ms'],
    DEFAULTS.electionTimeoutMs,
    100,
    10_000,
  );
  return {
    ...DEFAULTS,
    scenarios: pickScenarios(values.scenario),
    durationS: integer('duration', values.duration, DEFAULTS.durationS, 1, 86_400),
    seed: integer('seed', values.seed, Math.floor(Math.random() * 2 ** 31), 0, 2 ** 32 - 1),
    nodes: integer('nodes', values.nodes, DEFAULTS.nodes, 3, 7),
    clients: integer('clients', values.clients, DEFAULTS.clients, 1, 64),
    snapshotEntries: integer(
      'snapshot-entries',
      values['snapshot-entries'],
      DEFAULTS.snapshotEntries,
      20,
      1_000_000,
    ),
    electionTimeoutMs,
    heartbeatIntervalMs: Math.max(10, Math.floor(electionTimeoutMs / 8)),
    recoveryS: integer('recovery-s', values['recovery-s'], DEFAULTS.recoveryS, 1, 3600),
    checkMsMax: integer('check-ms-max', values['check-ms-max'], DEFAULTS.checkMsMax, 1, 3_600_000),
    out: resolve(values.out ?? mkdtempSync(join(tmpdir(), 'flotilla-nemesis-'))),
    keepData: values['keep-data'] === true,
    leaseReads: values['no-lease-reads'] !== true,
    distrust: distrusted(values.distrust),
    print,
  };
}

/** `npm run nemesis`: resolves with the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  const print = (line: string) => process.stdout.write(`${line}\n`);
  let options: NemesisOptions | 'help';
  try {
    options = parseNemesisArgs(argv, print);
  } catch (err) {
    const e = err as Error & { code?: string };
    if (!(err instanceof UsageError) && !e.code?.startsWith('ERR_PARSE_ARGS')) throw err;
    process.stderr.write(`nemesis: ${e.message}\nRun 'npm run nemesis -- --help' for usage.\n`);
    return EXIT.usage;
  }
  if (options === 'help') {
    print(USAGE);
    return EXIT.pass;
  }
  const summary = await runNemesis(options);
  print('');
  print(formatSummary(summary).trimEnd());
  return summary.exitCode;
}

const invoked = process.argv[1] === undefined ? '' : realpathSync(process.argv[1]);
if (invoked === fileURLToPath(import.meta.url)) {
  // Ctrl-C: the cluster's exit hook kills every node this run started.
  process.once('SIGINT', () => process.exit(130));
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      console.error(err.stack ?? err.message);
      process.exit(EXIT.recoveryFailed);
    },
  );
}
