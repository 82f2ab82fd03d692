import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  clientDefaults,
  deviceDefaults,
  deviceShare,
  resolveClientOptions,
  resolveDeviceOptions,
  resolveServerOptions,
} from '../src/options.js';
import { resolveBrokerOptions } from '../src/serve/broker.js';
import { ErrorCode } from '../src/errors.js';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EXAMPLES } from './helpers.js';

const ECHO = join(EXAMPLES, 'echo.js');

describe('options', () => {
  it('defaults reproduce the seed: 5559 for clients, 5560 for servers', () => {
    assert.equal(deviceDefaults.frontend, 'tcp://*:5559');
    assert.equal(deviceDefaults.backend, 'tcp://*:5560');
    assert.equal(clientDefaults.endpoint, 'tcp://localhost:5559');
    assert.equal(resolveServerOptions().endpoint, 'tcp://localhost:5560');
    assert.ok(Object.isFrozen(resolveDeviceOptions()));
  });

  it('undefined fields fall back to their defaults', () => {
    assert.equal(resolveClientOptions({ timeoutMs: undefined } as never).timeoutMs, clientDefaults.timeoutMs);
  });

  const bad: [string, () => unknown, RegExp][] = [
    ['an unknown option', () => resolveDeviceOptions({ frontnd: 'x' } as never), /option "frontnd" must be a known device option/],
    [
      'a wrong engine',
      () => resolveDeviceOptions({ engine: 'turbo' as never }),
      /option "engine" must be one of "native", "js", got "turbo"/,
    ],
    [
      'least-busy with native',
      () => resolveDeviceOptions({ engine: 'native', policy: 'least-busy' }),
      /option "policy" must be "round-robin" with engine "native"/,
    ],
    [
      'a fractional backlog',
      () => resolveDeviceOptions({ backlog: 1.5 }),
      /option "backlog" must be an integer from 1 to 1000000, got 1.5/,
    ],
    ['a negative maxQueued', () => resolveDeviceOptions({ maxQueued: -1 }), /option "maxQueued"/],
    [
      'a string timeout',
      () => resolveClientOptions({ timeoutMs: '100' as never }),
      /option "timeoutMs" must be an integer from 1 to .*, got "100"/,
    ],
    ['zero concurrency', () => resolveServerOptions({ concurrency: 0 }), /option "concurrency"/],
    ['a non-boolean bind', () => resolveServerOptions({ bind: 'yes' as never }), /option "bind" must be true or false/],
    [
      'a broker without a handler',
      () => resolveBrokerOptions({} as never),
      /option "handler" must be the path \(or file: URL\) of a handler module/,
    ],
    ['zero threads', () => resolveBrokerOptions({ handler: ECHO, threads: 0 }), /option "threads"/],
    [
      'a handler module that is not there',
      () => resolveBrokerOptions({ handler: 'no-such-handler.js' }),
      /option "handler": no handler module at .*no-such-handler\.js \(a relative path is taken from the working directory/,
    ],
    [
      'a handler URL that is not a file',
      () => resolveBrokerOptions({ handler: new URL('https://example.invalid/h.js') }),
      /option "handler" must be a path or a file: URL of a handler module/,
    ],
  ];
  for (const [what, call, message] of bad) {
    it(`refuses ${what}, naming the option`, () => {
      assert.throws(call, { code: ErrorCode.InvalidOption, message });
    });
  }

  it("takes a handler as a path, a file: URL string, or a URL object, as Node's own APIs do", () => {
    const url = pathToFileURL(ECHO);
    for (const handler of [ECHO, url.href, url]) assert.equal(resolveBrokerOptions({ handler }).handler, ECHO);
  });

  it('refuses a malformed endpoint option with the endpoint code', () => {
    assert.throws(() => resolveDeviceOptions({ frontend: 'tcp://host' }), { code: ErrorCode.InvalidEndpoint });
    assert.throws(() => resolveServerOptions({ endpoint: 'tcp://*:1' }), { code: ErrorCode.InvalidEndpoint });
    assert.doesNotThrow(() => resolveServerOptions({ endpoint: 'tcp://*:1', bind: true }));
  });

  it("resolves once: resolved device options, and a broker's share for its device, pass through as they are; the share is checked with its real backend", () => {
    const resolved = resolveDeviceOptions({ maxWaitMs: 50 });
    assert.equal(resolveDeviceOptions(resolved), resolved, 'not resolved again');
    const broker = resolveBrokerOptions({ handler: ECHO, policy: 'round-robin', frontend: 'tcp://127.0.0.1:7001' });
    const share = deviceShare(broker, 'ipc:///tmp/zq-share.sock');
    assert.equal(resolveDeviceOptions(share), share);
    assert.equal(share.backend, 'ipc:///tmp/zq-share.sock');
    assert.ok(Object.isFrozen(share));
    assert.throws(
      () => deviceShare(broker, 'tcp://127.0.0.1:7001'),
      { code: ErrorCode.InvalidOption, message: /"backend"/ },
      'round-robin cannot share the frontend',
    );
  });
});
