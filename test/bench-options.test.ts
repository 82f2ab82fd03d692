import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BenchUsageError, parseBenchArgs } from '../bench/lib/options.js';

describe('bench options', () => {
  it('defaults cover every transport and mode, 1 to 5000 clients, 16 B, in interleaved repeats', () => {
    const o = parseBenchArgs([]);
    assert.ok(o !== 'help');
    assert.deepEqual(o.transports, ['tcp', 'ipc', 'inproc', 'tcp-inproc']);
    assert.deepEqual(o.modes, ['direct', 'native', 'js', 'least-busy']);
    assert.deepEqual(o.clients, [1, 10, 100, 1000, 5000]);
    assert.deepEqual(o.sizes, [16]);
    assert.ok(o.repeats >= 2);
  });

  it('--quick and --full are presets that explicit options refine', () => {
    const q = parseBenchArgs(['--quick', '--transport', 'ipc']);
    assert.ok(q !== 'help');
    assert.equal(q.preset, 'quick');
    assert.deepEqual(q.transports, ['ipc']);
    assert.deepEqual(q.scenarios, ['throughput']);
    const f = parseBenchArgs(['--full']);
    assert.ok(f !== 'help' && f.clients.includes(10_000) && f.sizes.includes(65_536));
  });

  const bad: [string[], RegExp][] = [
    [['--transport', 'udp'], /--transport: "udp" is not one of tcp, ipc, inproc, tcp-inproc/],
    [['--mode', 'turbo'], /--mode: "turbo" is not one of/],
    [['--clients', '10,abc'], /--clients must be an integer from 1 to 10000, got "abc"/],
    [['--clients', '20000'], /--clients must be an integer from 1 to 10000/],
    [['--duration', '0'], /--duration must be an integer from 50/],
    [['--quick', '--full'], /cannot be used together/],
    [['--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, message] of bad) {
    it(`refuses ${args.join(' ')}`, () => {
      assert.throws(
        () => parseBenchArgs(args),
        (err: unknown) => err instanceof BenchUsageError && message.test(err.message),
      );
    });
  }

  it('--help asks for help', () => {
    assert.equal(parseBenchArgs(['--help']), 'help');
  });
});
