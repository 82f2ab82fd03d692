import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { createDevice } from '../src/device/device.js';
import { connectUrlFor } from '../src/endpoints.js';
import { EXAMPLES, ROOT, cli, within } from './helpers.js';

/** Runs the CLI to its end; returns exit code and output. */
async function runCli(args: string[]): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const p = cli(args);
  const code = await within(10_000, `zqueue ${args.join(' ')}`, p.exited);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${stderr}`);
  assert.match(lines[0] ?? '', pattern);
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
}

describe('CLI user errors: one clear line, exit 2 for usage and 1 at run time', () => {
  let taken: zmq.Router;
  let takenPort = 0;
  let dir = '';
  before(async () => {
    taken = new zmq.Router({ linger: 0 });
    await taken.bind('tcp://127.0.0.1:*');
    takenPort = Number(/:(\d+)$/.exec(taken.lastEndpoint ?? '')?.[1]);
    dir = mkdtempSync(join(tmpdir(), 'zqueue-cli-'));
  });
  after(() => {
    taken.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const usage: [string, string[], RegExp][] = [
    [
      'a tcp endpoint without a port',
      ['device', '--frontend', 'tcp://host'],
      /invalid endpoint "tcp:\/\/host": tcp endpoints are tcp:\/\/HOST:PORT/,
    ],
    ['an unknown transport', ['device', '--backend', 'foo://x'], /invalid endpoint "foo:\/\/x": unknown transport "foo"/],
    ['an unknown option', ['device', '--bogus'], /Unknown option '--bogus'/],
    ['a non-numeric number', ['client', '--requests', 'abc'], /--requests must be an integer ≥ 0, got "abc"/],
    ['a negative delay', ['server', '--delay=-5'], /--delay must be an integer ≥ 0, got "-5"/],
    ['a negative delay given apart', ['server', '--delay', '-5'], /--delay must be an integer ≥ 0, got "-5"/],
    [
      'a negative thread count',
      ['serve', '--handler', join(EXAMPLES, 'echo.js'), '--threads', '-1'],
      /--threads must be an integer ≥ 1, got "-1"/,
    ],
    [
      'a negative prefetch',
      ['serve', '--handler', join(EXAMPLES, 'echo.js'), '--prefetch', '-5'],
      /--prefetch must be an integer ≥ 0, got "-5"/,
    ],
    ['a negative request count', ['client', '--requests', '-3'], /--requests must be an integer ≥ 0, got "-3"/],
    ['an option missing its value', ['server', '--delay'], /Option '--delay <value>' argument missing/],
    [
      'a metrics port out of range, before anything starts',
      ['serve', '--handler', join(EXAMPLES, 'echo.js'), '--metrics', '99999'],
      /option "metrics" must be PORT or HOST:PORT \(port 1 to 65535\), got "99999"/,
    ],
    [
      'metrics on port 0, as a frontend on port 0 is',
      ['device', '--metrics', '0'],
      /option "metrics" must be PORT or HOST:PORT \(port 1 to 65535\), got "0"/,
    ],
    [
      'a control endpoint on another host',
      ['device', '--control', 'tcp://10.0.0.1:5600'],
      /option "control" must be an ipc:\/\/ endpoint or a tcp endpoint on 127.0.0.1/,
    ],
    [
      'a handler module that is not there',
      ['serve', '--handler', 'no-such-handler.js'],
      /option "handler": no handler module at .*no-such-handler\.js \(a relative path is taken from the working directory/,
    ],
    [
      'a bench export into a missing folder, before the run',
      ['bench', '--handler', join(EXAMPLES, 'echo.js'), '--export-json', '/no/such/folder/run.json'],
      /--export-json \/no\/such\/folder\/run\.json: cannot write there \(no folder \/no\/such\/folder\)/,
    ],
    ['an unknown engine', ['device', '--engine', 'turbo'], /--engine must be one of native, js, got "turbo"/],
    [
      'least-busy on the native engine',
      ['device', '--engine', 'native', '--policy', 'least-busy'],
      /option "policy" must be "round-robin" with engine "native"/,
    ],
    [
      'an ipc path in a missing folder',
      ['device', '--frontend', 'ipc:///no/such/folder/zq.sock'],
      /the folder \/no\/such\/folder does not exist/,
    ],
    ['an unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['a connect endpoint with a wildcard', ['client', '--connect', 'tcp://*:5559'], /needs a real host and port/],
  ];
  for (const [what, args, pattern] of usage) {
    it(`${what}: exit 2`, async () => {
      const r = await runCli(args);
      assert.equal(r.code, 2, r.stderr);
      assertOneLine(r.stderr, pattern);
      // Every error names its command first, whoever raised it.
      const command = args[0] === 'frobnicate' ? 'zqueue:' : `zqueue ${args[0] ?? ''}:`;
      assert.ok(r.stderr.startsWith(command), `starts with "${command}": ${r.stderr}`);
    });
  }

  it('a bind to a host that is no address of this one says so (not "No such device"): exit 1', async () => {
    const r = await runCli(['device', '--frontend', 'tcp://nonsense:5559', '--backend', `ipc://${join(dir, 'n.sock')}`]);
    assert.equal(r.code, 1, r.stderr);
    assertOneLine(
      r.stderr,
      /^zqueue device: cannot bind frontend to tcp:\/\/nonsense:5559: nonsense is not an address or interface of this host/,
    );
  });

  it('a Majordomo service nobody offers, on every default: the client hears "no-service", not its own timeout (exit 1)', async () => {
    const device = await createDevice({ policy: 'least-busy', frontend: 'tcp://127.0.0.1:*', backend: `ipc://${join(dir, 'ns.sock')}` });
    try {
      const r = await runCli(['client', '--connect', connectUrlFor(device.frontendEndpoint), '--service', 'nosuch', '--requests', '1']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^zqueue client: no-service: no worker offers service "nosuch"/);
      assert.doesNotMatch(r.stderr, /attempts/);
    } finally {
      await device.close();
    }
  });

  it('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });

  it('serve --help shows each default once, and --service-wait says what the request gets', async () => {
    const r = await runCli(['serve', '--help']);
    assert.equal(r.code, 0);
    assert.doesNotMatch(r.stdout, /\(default required\)|\(required\) \(default/);
    assert.match(r.stdout, /--service-wait MS .*"no-service"/);
    assert.match(r.stdout, /--stats-on-exit/);
  });

  it('a port already in use: exit 1', async () => {
    const r = await runCli(['device', '--frontend', `tcp://127.0.0.1:${takenPort}`, '--backend', `ipc://${join(dir, 'b.sock')}`]);
    assert.equal(r.code, 1, r.stderr);
    assertOneLine(r.stderr, new RegExp(`cannot bind frontend to tcp://127.0.0.1:${takenPort}: address already in use`));
  });

  it('--help prints the options and exits 0', async () => {
    for (const command of ['device', 'server', 'client']) {
      const r = await runCli([command, '--help']);
      assert.equal(r.code, 0);
      assert.match(r.stdout, new RegExp(`^Usage: zqueue ${command}`));
    }
  });
});
