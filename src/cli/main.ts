/**
 * zqueue's command line: one module per command, each a spec (its flags and
 * help, made from the option tables) and a run(). `main()` can be called
 * from a test without spawning a process.
 * A user error prints one line on stderr and exits 2 (usage) or 1 (run time).
 */
import { readFileSync } from 'node:fs';
import { ErrorCode, ZqueueError } from '../errors.js';
import { UsageError, helpOf, mainHelp, parseCommand, type CommandSpec, type Parsed } from './flags.js';
import * as device from './device.js';
import * as server from './server.js';
import * as client from './client.js';
import * as serve from './serve.js';
import * as keygen from './keygen.js';
import * as tap from './tap.js';
import * as ctl from './ctl.js';
import * as bench from './bench.js';
import * as benchCompare from './compare.js';

/**
 * The package's version (dist/src/cli/main.js: the package.json three folders up, in the repository and in the installed package alike).
 */
export const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface Command {
  readonly spec: CommandSpec;
  run(parsed: Parsed): Promise<void> | void;
}

export const COMMANDS: readonly Command[] = [device, server, client, serve, bench, benchCompare, keygen, tap, ctl];

export async function main(argv: readonly string[]): Promise<number> {
  // A command of two words (`bench compare`) is found before its first word alone.
  const twoWords = argv.length > 1 ? `${argv[0]} ${argv[1]}` : undefined;
  const [name, ...rest] = twoWords !== undefined && COMMANDS.some((c) => c.spec.name === twoWords) ? [twoWords, ...argv.slice(2)] : argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    console.log(mainHelp(COMMANDS.map((c) => c.spec)));
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    console.log(VERSION);
    return 0;
  }
  const command = COMMANDS.find((c) => c.spec.name === name);
  if (command === undefined) {
    console.error(`zqueue: unknown command "${name}" (try zqueue --help)`);
    return 2;
  }
  try {
    const parsed = parseCommand(command.spec, rest);
    if (parsed.help) {
      console.log(helpOf(command.spec));
      return 0;
    }
    await command.run(parsed);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      // One prefix for every error of a command, whoever raised it.
      console.error(err.message.startsWith('zqueue ') ? err.message : `zqueue ${name}: ${err.message}`);
      return 2;
    }
    if (err instanceof ZqueueError) {
      console.error(`zqueue ${name}: ${err.message}`);
      return err.code === ErrorCode.InvalidOption || err.code === ErrorCode.InvalidEndpoint ? 2 : 1;
    }
    console.error(`zqueue ${name}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}
