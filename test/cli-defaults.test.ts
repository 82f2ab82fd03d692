/**
 * The CLI runs on the library's defaults: what `zqueue device` and `zqueue
 * serve` put in force when a flag is not given is what the library would.
 * (The CLI once ran least-busy with prefetch 1 while the library, the help
 * and the README said 128: 3,560 against 9,692 req/s on the same machine.)
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { deviceDefaults } from '../src/options.js';
import { brokerDefaults } from '../src/serve/broker.js';
import { EXAMPLES, cli, endpointFor, removeTempDirs, within } from './helpers.js';

/** Starts the command, reads its JSON "bound" log line, stops it with SIGTERM and checks it exits 0. */
async function boundLine(args: string[]): Promise<Record<string, unknown>> {
  const p = cli([...args, '--log-format', 'json']);
  try {
    await within(20_000, `zqueue ${args[0] ?? ''} bound`, p.waitFor('"event":"bound"'));
    const line =
      p
        .stderr()
        .split('\n')
        .find((l) => l.includes('"event":"bound"')) ?? '';
    return JSON.parse(line) as Record<string, unknown>;
  } finally {
    p.kill('SIGTERM');
    assert.equal(await within(20_000, 'exit', p.exited), 0, p.stderr());
  }
}

describe('CLI defaults are the library defaults', () => {
  it("zqueue device --policy least-busy runs with the library's prefetch and maxQueued", async () => {
    const line = await boundLine([
      'device',
      '--policy',
      'least-busy',
      '--frontend',
      endpointFor('ipc', 'f'),
      '--backend',
      endpointFor('ipc', 'b'),
    ]);
    assert.equal(line.prefetch, deviceDefaults.prefetch);
    assert.equal(line.maxQueued, deviceDefaults.maxQueued);
    removeTempDirs();
  });

  it("zqueue serve runs with the library's prefetch and maxQueued", async () => {
    const line = await boundLine([
      'serve',
      '--handler',
      join(EXAMPLES, 'echo.js'),
      '--threads',
      '1',
      '--frontend',
      endpointFor('ipc', 'f'),
    ]);
    assert.equal(line.policy, 'least-busy');
    assert.equal(line.prefetch, brokerDefaults.prefetch);
    assert.equal(line.maxQueued, brokerDefaults.maxQueued);
    removeTempDirs();
  });
});
