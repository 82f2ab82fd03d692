import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { cli, within } from './helpers.js';

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
    ['a tcp endpoint without a port', ['device', '--frontend', 'tcp://host'], /invalid endpoint "tcp:\/\/host": tcp endpoints are tcp:\/\/HOST:PORT/],
    ['an unknown transport', ['device', '--backend', 'foo://x'], /invalid endpoint "foo:\/\/x": unknown transport "foo"/],
    ['an unknown option', ['device', '--bogus'], /Unknown option '--bogus'/],
    ['a non-numeric number', ['client', '--requests', 'abc'], /--requests must be an integer ≥ 0, got "abc"/],
    ['a negative delay', ['server', '--delay=-5'], /--delay must be an integer ≥ 0, got "-5"/],
    ['an option missing its value', ['server', '--delay', '-5'], /Option '--delay' argument is ambiguous/],
    ['an unknown engine', ['device', '--engine', 'turbo'], /--engine must be one of native, js, got "turbo"/],
    ['least-busy on the native engine', ['device', '--engine', 'native', '--policy', 'least-busy'], /option "policy" must be "round-robin" with engine "native"/],
    ['an ipc path in a missing folder', ['device', '--frontend', 'ipc:///no/such/folder/zq.sock'], /the folder \/no\/such\/folder does not exist/],
    ['an unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['a connect endpoint with a wildcard', ['client', '--connect', 'tcp://*:5559'], /needs a real host and port/],
  ];
  for (const [what, args, pattern] of usage) {
    it(`${what}: exit 2`, async () => {
      const r = await runCli(args);
      assert.equal(r.code, 2, r.stderr);
      assertOneLine(r.stderr, pattern);
    });
  }

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
