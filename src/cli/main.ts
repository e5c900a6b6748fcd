#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CLIENT_HELP, runClientCommand } from './client-commands.js';
import { CLUSTER_HELP, runCluster } from './cluster.js';
import { parseServeConfig, SERVE_HELP, ServeConfigError } from './serve-config.js';

const HELP = `usage: flotilla <command> [options]

commands:
  serve      run one node                       (flotilla serve --help)
  cluster    run a local N-node cluster          (flotilla cluster --help)
  put KEY VALUE / get KEY / del KEY / ls [PREFIX] / status / leader transfer [--to ID]
             talk to a cluster                   (flotilla put --help, ...)
  member list|add|add-learner|promote|update|remove
             change who is in the cluster        (flotilla member --help)
  check HISTORY.jsonl
             check a client history for linearizability
  wal inspect DIR
             list a data folder's WAL segments and snapshots, verify every checksum

example: flotilla cluster --nodes 3, then flotilla put greeting hello`;

/** Exit status of a command-line mistake (BSD sysexits EX_USAGE), as every subcommand uses. */
const EX_USAGE = 64;

/** The `flotilla` command. Resolves with the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    return await dispatch(command, rest);
  } catch (err) {
    // An unknown option, a missing value, a stray positional: a usage error, not a crash.
    if (!isParseArgsError(err)) throw err;
    return usageError(command ?? '', err.message);
  }
}

async function dispatch(command: string | undefined, rest: readonly string[]): Promise<number> {
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(HELP);
      return command === undefined ? EX_USAGE : 0;
    case 'serve':
      return await serve(rest);
    case 'cluster':
      return await runCluster(rest);
    case 'put':
    case 'get':
    case 'del':
    case 'ls':
    case 'status':
    case 'leader':
    case 'member':
      try {
        return await runClientCommand(command, rest);
      } catch (err) {
        if (isParseArgsError(err)) throw err;
        console.error(`${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}`);
        return 1;
      }
    case 'check': {
      const { main: check } = await import('../check/cli.js');
      return await check([...rest]);
    }
    case 'wal': {
      const { main: wal } = await import('../storage/wal/inspect.js');
      return await wal([...rest]);
    }
    default:
      console.error(`unknown command "${command}"\n\n${HELP}`);
      return EX_USAGE;
  }
}

/** The errors node:util parseArgs throws for a command line it cannot read (`ERR_PARSE_ARGS_*`). */
function isParseArgsError(err: unknown): err is Error & { code: string } {
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

/** One line that names the command and the problem, one that says where the options are. */
function usageError(command: string, problem: string): number {
  console.error(`flotilla ${command}: ${problem}\nRun 'flotilla ${command} --help' for usage.`);
  return EX_USAGE;
}

async function serve(argv: readonly string[]): Promise<number> {
  let cfg: ReturnType<typeof parseServeConfig>;
  try {
    cfg = parseServeConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ServeConfigError) return usageError('serve', err.message);
    throw err;
  }
  if (cfg === 'help') {
    console.log(SERVE_HELP);
    return 0;
  }
  const { startNode } = await import('./serve.js');
  let node: Awaited<ReturnType<typeof startNode>>;
  try {
    node = await startNode(cfg);
  } catch (err) {
    console.error(`node ${cfg.id} cannot start: ${(err as Error).message}`);
    return 1;
  }
  return new Promise<number>((resolve) => {
    const stop = () => {
      node.stop().then(
        () => resolve(0),
        (err: Error) => {
          console.error(`node ${cfg.id} stopped with an error: ${err.message}`);
          resolve(1);
        },
      );
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export { CLIENT_HELP, CLUSTER_HELP };

const invoked = process.argv[1] === undefined ? '' : realpathSync(process.argv[1]);
if (invoked === fileURLToPath(import.meta.url)) {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    // A reader that stops early (`| head`) ends the output, not with a crash; 141 is what shells report.
    if (err.code !== 'EPIPE') throw err;
    process.exit(141);
  });
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      console.error(err.stack ?? err.message);
      process.exit(1);
    },
  );
}
