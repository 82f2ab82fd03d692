/**
 * The option tables drive the CLI: for every flag of every command, the CLI
 * passes the value on to the library's option it names (a round trip), and
 * --help shows the default the library has. A flag added without a sample
 * here fails the walk.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeKeyPair } from '../src/keys.js';
import { entriesOf, helpOf, parseCommand, shownDefault, type Parsed } from '../src/cli/flags.js';
import { COMMANDS } from '../src/cli/main.js';
import * as device from '../src/cli/device.js';
import * as server from '../src/cli/server.js';
import * as client from '../src/cli/client.js';
import * as serve from '../src/cli/serve.js';
import {
  brokerOptions,
  clientOptions,
  deviceOptions,
  resolveBrokerOptions,
  resolveClientOptions,
  resolveDeviceOptions,
  resolveServerOptions,
  resolveTable,
  serverOptions,
  type OptionTable,
  type OptionsOf,
} from '../src/options.js';
import { EXAMPLES, removeTempDirs, tempDir } from './helpers.js';

/** The library's resolved options for what a command line gives, per command that builds library options. */
const LIBRARY: Record<string, (p: Parsed) => Record<string, unknown>> = {
  device: (p) => resolveDeviceOptions(device.options(p)),
  server: (p) => resolveServerOptions(server.options(p)),
  client: (p) => resolveClientOptions(client.options(p)),
  serve: (p) => resolveBrokerOptions(serve.options(p)),
};

/** Every command needs these to run at all. */
const ECHO = join(EXAMPLES, 'echo.js');
const REQUIRED: Record<string, string[]> = { serve: ['--handler', ECHO] };

/** Flags that need another to be valid, and samples that differ by command (their defaults do). */
const COMPANIONS: Record<string, (samples: Record<string, string>) => string[]> = {
  engine: () => ['--policy', 'round-robin'],
  'curve-key': (s) => ['--curve-server-key', s['curve-server-key'] ?? ''],
  'allow-keys': (s) => ['--curve-secret-key', s['curve-secret-key'] ?? ''],
  'allow-server-keys': (s) => ['--backend-curve-secret-key', s['backend-curve-secret-key'] ?? ''],
};
const BY_COMMAND: Record<string, string> = {
  'serve:policy': 'round-robin',
  'bench:requests': '1000',
  'bench:connect': 'tcp://127.0.0.1:7005',
};

describe('the option tables drive the CLI', () => {
  let samples: Record<string, string> = {};
  before(() => {
    const dir = tempDir();
    const pair = writeKeyPair(dir, 'k');
    samples = {
      frontend: 'tcp://127.0.0.1:7001',
      backend: 'tcp://127.0.0.1:7002',
      connect: 'tcp://127.0.0.1:7003',
      bind: 'tcp://127.0.0.1:7004',
      engine: 'native',
      policy: 'least-busy',
      backlog: '77',
      'max-message-size': '1000',
      'max-queued': '55',
      'max-queued-per-client': '5',
      'queue-order': 'fifo',
      'plain-service': 'echo',
      join: 'tcp://127.0.0.1:7010,tcp://127.0.0.1:7011',
      'service-wait': '900',
      service: 'echo',
      'handler-timeout': '1234',
      'on-worker-death': 'fail',
      hwm: '99',
      'close-timeout': '321',
      tap: `ipc://${join(dir, 'tap.sock')}`,
      'tap-hwm': '12',
      'curve-secret-key': pair.secretFile,
      'allow-keys': pair.publicFile,
      'allow-from': '127.0.0.1/32',
      'backend-curve-secret-key': pair.secretFile,
      'allow-server-keys': pair.publicFile,
      'ipc-mode': '640',
      heartbeat: '250',
      'max-frames': '64',
      prefetch: '7',
      overload: 'off',
      'standing-queue': '50',
      'max-wait': '300',
      'handshake-timeout': '1500',
      'count-handshakes': '',
      concurrency: '3',
      'routing-id': 'srv-1',
      'curve-server-key': pair.publicFile,
      'curve-key': pair.secretFile,
      timeout: '999',
      retries: '5',
      handler: ECHO,
      'in-flight': '8',
      health: '9465',
      threads: '3',
      metrics: '9464',
      'stats-interval': '10',
      control: `ipc://${join(dir, 'ctl.sock')}`,
      'log-format': 'json',
      'stats-on-exit': '',
      delay: '10',
      quiet: '',
      requests: '4',
      message: 'hi',
      dir: '/tmp',
      count: '2',
      clients: '33',
      duration: '7',
      rate: '250',
      size: '64',
      json: '',
      'clients-per-process': '100',
      repeat: '3',
      'export-json': 'run.json',
      'export-csv': 'run.csv',
      'export-markdown': 'run.md',
      'export-github-benchmark': 'gab.json',
      'export-bmf': 'bmf.json',
      'export-hdr': 'run.hlog',
      threshold: '20',
      'cpu-pid': '4242',
    };
  });

  for (const command of COMMANDS) {
    const name = command.spec.name;

    it(`zqueue ${name}: every flag reaches its option, as the table parses it`, () => {
      for (const e of entriesOf(command.spec)) {
        const sample = BY_COMMAND[`${name}:${e.flag.flag}`] ?? samples[e.flag.flag];
        assert.ok(sample !== undefined, `--${e.flag.flag} (${name}) has a sample in this test`);
        const argv = [
          ...(e.flag.arg === undefined ? [`--${e.flag.flag}`] : [`--${e.flag.flag}`, sample]),
          ...(COMPANIONS[e.flag.flag]?.(samples) ?? []),
        ];
        const parsed = parseCommand(command.spec, [...(e.flag.flag === 'handler' ? [] : (REQUIRED[name] ?? [])), ...argv]);
        const expected =
          e.flag.arg === undefined ? true : (e.flag.parse?.(sample) ?? (e.spec.range !== undefined ? Number(sample) : sample));
        const library = LIBRARY[name];
        // Options of the library's tables are checked after the library resolved them; the command's own, in its table.
        const resolved =
          library !== undefined && LIBRARY_TABLES.has(e.table) ? library(parsed) : resolveTable(name, e.table, parsed.of(e.table));
        const got = resolved[e.key];
        if (e.key === 'handler' && name === 'serve') assert.equal(got, ECHO);
        else assert.deepEqual(got, expected, `--${e.flag.flag} sets ${e.key}`);
        assert.notDeepEqual(
          expected,
          e.spec.default,
          `the sample for --${e.flag.flag} differs from its default, so the trip proves something`,
        );
      }
    });

    it(`zqueue ${name}: --help shows each flag with the library's default`, () => {
      const help = helpOf(command.spec);
      for (const e of entriesOf(command.spec)) {
        const line = help.split('\n').find((l) => l.trimStart().startsWith(`--${e.flag.flag}`));
        assert.ok(line !== undefined, `--${e.flag.flag} is in the help`);
        const shown = shownDefault(e);
        if (e.flag.shownDefault === undefined && e.flag.arg !== undefined) assert.equal(shown, String(e.spec.default as string | number));
        if (shown !== '') assert.ok(line.endsWith(`(default ${shown})`), `${line} ends with its default`);
      }
    });

    const library = LIBRARY[name];
    if (library !== undefined) {
      it(`zqueue ${name} with no flags runs on the library's defaults`, () => {
        const fromCli = library(parseCommand(command.spec, REQUIRED[name] ?? []));
        const given = name === 'serve' ? { handler: ECHO } : {};
        const fromLibrary = library({
          help: false,
          args: [],
          of: <T extends OptionTable>() => given as OptionsOf<T>,
          text: () => undefined,
        });
        const strip = (o: Record<string, unknown>): Record<string, unknown> => ({ ...o, curvePublicKey: '', curveSecretKey: '' });
        assert.deepEqual(strip(fromCli), strip(fromLibrary));
      });
    }
  }

  it('cleans up', () => removeTempDirs());
});

/** The tables whose options a command hands to the library (the rest are the command's own). */
const LIBRARY_TABLES = new Set<OptionTable>([deviceOptions, serverOptions, clientOptions, brokerOptions]);
