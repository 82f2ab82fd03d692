/**
 * The command line's plumbing, made from the option tables in src/options.ts:
 * each command names the options it takes, and gets from the tables their
 * flags, how a flag's text becomes a value, and its help line with its
 * default. A command passes on only the flags that were given, so what is
 * not given takes the library's default: there is no default here.
 */
import { parseArgs } from 'node:util';
import { flagsOf, type CliFlag, type OptionSpec, type OptionTable, type OptionsOf } from '../options.js';

/** A mistake on the command line: printed as one line, after the command's name (`zqueue serve: `), exit 2. */
export class UsageError extends Error {}

/** A group of a command's options in --help: some options of one table, under a title. */
export interface Section {
  readonly title?: string;
  readonly table: OptionTable;
  readonly keys: readonly string[];
}

export interface CommandSpec {
  readonly name: string;
  /** One line for `zqueue --help`. */
  readonly summary: string;
  /** After `Usage: zqueue NAME`: `[options]`, `ENDPOINT [options]`. */
  readonly usage: string;
  /** Help text after the usage line, before the options. */
  readonly intro?: string;
  readonly sections: readonly Section[];
  /** Help text after the options. */
  readonly notes?: string;
  /** Plain arguments it takes. */
  readonly positionals?: number;
}

export interface Parsed {
  readonly help: boolean;
  readonly args: readonly string[];
  /** The options of `table` that the given flags set (only those). */
  of<T extends OptionTable>(table: T): OptionsOf<T>;
  /** The text `--flag` was given, if it was (a file name to read again later). */
  text(flag: string): string | undefined;
}

interface Entry {
  readonly table: OptionTable;
  readonly key: string;
  readonly spec: OptionSpec<unknown>;
  readonly flag: CliFlag<unknown>;
}

/** Every flag of a command, each once (a flag given twice across sections is a bug in the command). */
export function entriesOf(command: CommandSpec): Entry[] {
  const out: Entry[] = [];
  const seen = new Set<string>();
  for (const section of command.sections) {
    for (const key of section.keys) {
      const spec = section.table[key];
      if (spec === undefined) throw new Error(`zqueue ${command.name}: no option ${key} in its table`);
      const flags = flagsOf(spec);
      if (flags.length === 0) throw new Error(`zqueue ${command.name}: option ${key} has no flag`);
      for (const flag of flags) {
        if (seen.has(flag.flag) || flag.flag === 'help') throw new Error(`zqueue ${command.name}: --${flag.flag} defined twice`);
        seen.add(flag.flag);
        out.push({ table: section.table, key, spec, flag });
      }
    }
  }
  return out;
}

export function parseCommand(command: CommandSpec, argv: readonly string[]): Parsed {
  const entries = entriesOf(command);
  const config: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const e of entries) config[e.flag.flag] = { type: e.flag.arg === undefined ? 'boolean' : 'string' };
  const positionals = command.positionals ?? 0;
  let values: Record<string, string | boolean | undefined>;
  let rest: string[];
  try {
    const r = parseArgs({ args: attachValues(argv, config), options: config, strict: true, allowPositionals: positionals > 0 });
    if (r.positionals.length > positionals) throw new Error(`unexpected argument ${JSON.stringify(r.positionals[positionals])}`);
    values = r.values;
    rest = r.positionals;
  } catch (err) {
    throw new UsageError((err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '');
  }
  const byTable = new Map<OptionTable, Record<string, unknown>>();
  const setBy = new Map<string, string>();
  for (const e of entries) {
    const raw = values[e.flag.flag];
    if (raw === undefined) continue;
    const options = byTable.get(e.table) ?? {};
    byTable.set(e.table, options);
    const tableKey = `${e.key}`;
    const other = setBy.get(tableKey);
    if (other !== undefined) throw new UsageError(`--${other} and --${e.flag.flag} cannot be used together`);
    setBy.set(tableKey, e.flag.flag);
    const value = typeof raw === 'boolean' ? raw : valueOf(e, raw);
    options[e.key] = value;
    if (e.flag.also !== undefined && typeof raw === 'string') Object.assign(options, e.flag.also(value, raw));
  }
  return {
    help: values.help === true,
    args: rest,
    of: <T extends OptionTable>(table: T) => ({ ...(byTable.get(table) ?? {}) }) as OptionsOf<T>,
    text: (flag) => {
      const v = values[flag];
      return typeof v === 'string' ? v : undefined;
    },
  };
}

/**
 * `--flag VALUE` as `--flag=VALUE` where the flag takes a value and VALUE
 * starts with "-": parseArgs would read `--threads -1` as two options ("argument
 * is ambiguous"), where the user gave a value for the range check to refuse.
 */
function attachValues(argv: readonly string[], config: Readonly<Record<string, { type: 'string' | 'boolean' }>>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const next = argv[i + 1];
    if (a.startsWith('--') && !a.includes('=') && config[a.slice(2)]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** A flag's text as its option's value: its own parser, or an integer or a choice checked as the CLI says it. */
function valueOf(e: Entry, raw: string): unknown {
  if (e.flag.parse !== undefined) return e.flag.parse(raw);
  const { range, choices } = e.spec;
  if (range !== undefined) {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isInteger(n) || n < range[0])
      throw new UsageError(`--${e.flag.flag} must be an integer ≥ ${range[0]}, got ${JSON.stringify(raw)}`);
    if (n > range[1]) throw new UsageError(`--${e.flag.flag} must be an integer ≤ ${range[1]}, got ${JSON.stringify(raw)}`);
    return n;
  }
  if (choices !== undefined && !choices.includes(raw))
    throw new UsageError(`--${e.flag.flag} must be one of ${choices.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw;
}

/** The default as --help shows it. */
export function shownDefault(e: Entry): string {
  if (e.flag.shownDefault !== undefined) return e.flag.shownDefault;
  if (e.flag.arg === undefined) return '';
  const d = e.spec.default;
  if (d === null) return 'none';
  if (typeof d === 'string' || typeof d === 'number' || typeof d === 'boolean') return String(d);
  return JSON.stringify(d);
}

/** `zqueue NAME --help`. */
export function helpOf(command: CommandSpec): string {
  const lines = [`Usage: zqueue ${command.name} ${command.usage}`];
  if (command.intro !== undefined) lines.push('', command.intro);
  const entries = entriesOf(command);
  const width = Math.max(...entries.map((e) => flagText(e.flag).length), 10) + 2;
  let first = true;
  for (const section of command.sections) {
    if (section.title !== undefined) lines.push(`${section.title}:`);
    else if (first) lines.push('');
    first = false;
    for (const e of entries) {
      if (e.table !== section.table || !section.keys.includes(e.key)) continue;
      const d = shownDefault(e);
      lines.push(`  ${flagText(e.flag).padEnd(width)}${docOf(e)}${d === '' ? '' : ` (default ${d})`}`);
    }
  }
  lines.push(`  ${'-h, --help'.padEnd(width)}this help`);
  if (command.notes !== undefined) lines.push(command.notes);
  return lines.join('\n');
}

function flagText(flag: CliFlag<unknown>): string {
  return `--${flag.flag}${flag.arg === undefined ? '' : ` ${flag.arg}`}`;
}

function docOf(e: Entry): string {
  return e.flag.doc ?? e.spec.doc;
}

/** `zqueue --help`. */
export function mainHelp(commands: readonly CommandSpec[]): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 3;
  return [
    'Usage: zqueue <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Run "zqueue <command> --help" for a command\'s options; "zqueue --version" prints the version.',
  ].join('\n');
}
