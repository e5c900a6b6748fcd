import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { appendModel } from './append-model.js';
import { checkHistory, type Verdict } from './check-history.js';
import { parseEdnHistory } from './edn-history.js';
import { HistoryParseError, UnsupportedOperationError } from './errors.js';
import { explainViolation, summaryLine, verdictLine } from './explain.js';
import type { History } from './history.js';
import { writeHtmlReport } from './html-report.js';
import { parseJepsenLog } from './jepsen-log.js';
import { parseJsonlHistory } from './jsonl-history.js';
import { DEFAULT_BUDGET } from './linearizability.js';
import type { Model } from './model.js';
import { kvModel, registerModel } from './register-model.js';

/** Exit statuses of `flotilla check`; 64 and up follow BSD sysexits. */
export const EXIT = {
  linearizable: 0,
  notLinearizable: 1,
  unknown: 2,
  usage: 64,
  badHistory: 65,
  noInput: 66,
  cannotWrite: 73,
} as const;

const VERDICT_EXIT: Record<Verdict, number> = {
  ok: EXIT.linearizable,
  violation: EXIT.notLinearizable,
  unknown: EXIT.unknown,
};

/** History formats the CLI reads. */
export const FORMATS = ['jsonl', 'jepsen-log', 'edn'] as const;
type Format = (typeof FORMATS)[number];

/** Models by their `--model` name. */
export const MODELS: Readonly<Record<string, Model<unknown>>> = {
  kv: kvModel,
  register: registerModel,
  append: appendModel,
};

/** Keys explained in full on a violation; the rest get their one line (the HTML page draws them all). */
export const EXPLAINED_KEYS_MAX = 10;

const USAGE = `Usage: flotilla check HISTORY [options]

Checks that a recorded client history is linearizable, key by key.

Options:
  --html FILE      also write a self-contained HTML page drawing the keys that are not ok
  --steps-max N    search steps per key before answering "unknown" (default ${DEFAULT_BUDGET.stepsMax})
  --ms-max N       milliseconds per key before answering "unknown" (default ${DEFAULT_BUDGET.msMax})
  --format F       ${FORMATS.join(' | ')} (default: guessed from the first line)
  --model M        ${Object.keys(MODELS).join(' | ')} (default: append if the history appends,
                   register if it uses read/write, else kv)
  --brief          one line per key that is not linearizable, without the explanation
  -h, --help       show this help

On a violation it explains each key that is not linearizable (the first ${EXPLAINED_KEYS_MAX}): the
longest linearizable prefix, the operation that must come next, and why no operation can.

Exit status: 0 linearizable, 1 not linearizable, 2 unknown (a budget ran out),
64 usage error, 65 malformed history, 66 unreadable history, 73 cannot write the HTML page.

Example:
  flotilla check history.jsonl --html report.html --ms-max 5000`;

/** Where the CLI writes; tests pass their own. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

const processIo: CliIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

interface CliArgs {
  readonly help: boolean;
  readonly file: string;
  readonly html: string | undefined;
  readonly stepsMax: number | undefined;
  readonly msMax: number | undefined;
  readonly format: Format | undefined;
  readonly model: Model<unknown> | undefined;
  /** One line per bad key instead of the explanation. */
  readonly brief: boolean;
}

class UsageError extends Error {}

/**
 * `flotilla check HISTORY [--html OUT.html] [--steps-max N] [--ms-max N] [--format F] [--model M]
 * [--brief]`; `argv` holds the arguments after `check`. Prints one line per key that is not
 * linearizable, the explanation of each violation (unless `--brief`) and a summary, and resolves
 * to the exit status ({@link EXIT}).
 */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  let args: CliArgs;
  try {
    args = parseCliArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`flotilla check: ${err.message}\nRun 'flotilla check --help' for usage.`);
    return EXIT.usage;
  }
  if (args.help) {
    io.out(USAGE);
    return EXIT.linearizable;
  }
  let text: string;
  try {
    text = await readFile(args.file, 'utf8');
  } catch (err) {
    io.err(`flotilla check: cannot read ${args.file}: ${(err as Error).message}`);
    return EXIT.noInput;
  }
  return checkText(text, args, io);
}

async function checkText(text: string, args: CliArgs, io: CliIo): Promise<number> {
  let check: ReturnType<typeof checkHistory>;
  try {
    const history = parseHistory(text, args.format ?? guessFormat(text), args.file);
    check = checkHistory(history, args.model ?? defaultModelFor(history), {
      budget: { stepsMax: args.stepsMax, msMax: args.msMax },
    });
  } catch (err) {
    if (!(err instanceof HistoryParseError || err instanceof UnsupportedOperationError)) throw err;
    io.err(`flotilla check: ${err.message}`);
    return EXIT.badHistory;
  }
  let explained = 0;
  for (const key of check.keys) {
    if (key.verdict === 'ok') continue;
    io.out(verdictLine(key));
    if (args.brief || key.violation === undefined || explained >= EXPLAINED_KEYS_MAX) continue;
    io.out(`${explainViolation(key)}\n`);
    explained++;
  }
  const violations = check.keys.filter((k) => k.violation !== undefined).length;
  if (violations > explained && !args.brief)
    io.out(`(${violations - explained} more keys not explained; --html draws every one)`);
  io.out(summaryLine(check));
  if (args.html !== undefined) {
    try {
      await writeHtmlReport(args.html, check);
    } catch (err) {
      io.err(`flotilla check: cannot write ${args.html}: ${(err as Error).message}`);
      return EXIT.cannotWrite;
    }
    io.out(`report: ${args.html}`);
  }
  return VERDICT_EXIT[check.verdict];
}

function parseCliArgs(argv: string[]): CliArgs {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(argv);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    return {
      help: true,
      file: '',
      html: undefined,
      stepsMax: undefined,
      msMax: undefined,
      format: undefined,
      model: undefined,
      brief: false,
    };
  }
  if (positionals.length !== 1) throw new UsageError(`expected one HISTORY file, got ${positionals.length}`);
  const format = values.format;
  if (format !== undefined && !FORMATS.includes(format as Format)) {
    throw new UsageError(`--format must be one of ${FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
  }
  const model =
    values.model !== undefined && Object.hasOwn(MODELS, values.model) ? MODELS[values.model] : undefined;
  if (values.model !== undefined && model === undefined) {
    throw new UsageError(
      `--model must be one of ${Object.keys(MODELS).join(', ')}, got ${JSON.stringify(values.model)}`,
    );
  }
  return {
    help: false,
    file: positionals[0] ?? '',
    html: values.html,
    stepsMax: positiveInteger('--steps-max', values['steps-max']),
    msMax: positiveInteger('--ms-max', values['ms-max']),
    format: format as Format | undefined,
    model,
    brief: values.brief === true,
  };
}

function parseFlags(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      html: { type: 'string' },
      'steps-max': { type: 'string' },
      'ms-max': { type: 'string' },
      format: { type: 'string' },
      model: { type: 'string' },
      brief: { type: 'boolean' },
      // The explanation is printed by default now; the flag is still accepted.
      explain: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function positiveInteger(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    throw new UsageError(`${flag} must be a positive integer, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** The format of a history, from its first non-blank line; JSON Lines when unsure. */
export function guessFormat(text: string): Format {
  const first =
    text
      .split('\n')
      .find((line) => line.trim() !== '')
      ?.trim() ?? '';
  if (first.includes('jepsen.util')) return 'jepsen-log';
  if (first.startsWith('{') && !first.startsWith('{"') && /^\{\s*:/.test(first)) return 'edn';
  return 'jsonl';
}

/** Reads `text` as a history in `format`; `source` names it in errors. */
export function parseHistory(text: string, format: Format, source: string): History {
  switch (format) {
    case 'jsonl':
      return parseJsonlHistory(text, { source });
    case 'jepsen-log':
      return parseJepsenLog(text, { source });
    case 'edn':
      return parseEdnHistory(text, { source, defaultKey: 'register' });
  }
}

/** `append` for a history that appends, `register` for one that reads or writes, else `kv`. */
export function defaultModelFor(history: History): Model<unknown> {
  const names = new Set(history.operations.map((op) => op.f));
  if (names.has('append')) return appendModel;
  if (names.has('read') || names.has('write')) return registerModel;
  return kvModel;
}
