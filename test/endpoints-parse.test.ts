import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connectUrlFor, parseEndpoint, resolveBackend } from '../src/endpoints.js';
import { ErrorCode } from '../src/errors.js';

describe('endpoints', () => {
  it('parses tcp, ipc and inproc endpoints', () => {
    assert.deepEqual(parseEndpoint('tcp://*:5559', 'bind'), { transport: 'tcp', url: 'tcp://*:5559', host: '*', port: 5559 });
    assert.deepEqual(parseEndpoint('tcp://localhost:5560', 'connect'), {
      transport: 'tcp',
      url: 'tcp://localhost:5560',
      host: 'localhost',
      port: 5560,
    });
    assert.equal(parseEndpoint('tcp://127.0.0.1:*', 'bind').port, 0);
    assert.equal(parseEndpoint('tcp://[::1]:80', 'connect').host, '[::1]');
    assert.equal(parseEndpoint('ipc:///tmp/x.sock', 'bind').path, '/tmp/x.sock');
    assert.equal(parseEndpoint('inproc://backend', 'bind').name, 'backend');
  });

  const bad: [string, 'bind' | 'connect', RegExp][] = [
    ['tcp://host', 'connect', /tcp endpoints are tcp:\/\/HOST:PORT/],
    ['tcp://host:0', 'connect', /port must be between 1 and 65535/],
    ['tcp://host:70000', 'bind', /port must be between 1 and 65535/],
    ['tcp://*:5559', 'connect', /needs a real host and port/],
    ['foo://x', 'bind', /unknown transport "foo"/],
    ['localhost:5559', 'connect', /expected tcp:\/\/HOST:PORT/],
    ['', 'bind', /expected tcp/],
    ['ipc://', 'bind', /ipc endpoints are ipc:\/\/PATH/],
    ['ipc:///no/such/dir/x.sock', 'bind', /the folder \/no\/such\/dir does not exist/],
    ['inproc://', 'bind', /inproc endpoints are inproc:\/\/NAME/],
  ];
  for (const [endpoint, role, message] of bad) {
    it(`refuses ${JSON.stringify(endpoint)} (${role}) with a code and a reason`, () => {
      assert.throws(() => parseEndpoint(endpoint, role), { code: ErrorCode.InvalidEndpoint, message });
    });
  }

  it('an ipc path in a missing folder is fine to connect to (the binder may create it)', () => {
    assert.equal(parseEndpoint('ipc:///no/such/dir/x.sock', 'connect').transport, 'ipc');
  });

  it('maps a bound endpoint to one a local peer connects to', () => {
    assert.equal(connectUrlFor('tcp://*:5559'), 'tcp://127.0.0.1:5559');
    assert.equal(connectUrlFor('tcp://0.0.0.0:5560'), 'tcp://127.0.0.1:5560');
    assert.equal(connectUrlFor('tcp://127.0.0.2:1'), 'tcp://127.0.0.2:1');
    assert.equal(connectUrlFor('inproc://b'), 'inproc://b');
  });

  it('expands the backend shorthands into private endpoints, each one new', () => {
    const a = resolveBackend('inproc');
    const b = resolveBackend('inproc');
    assert.match(a, /^inproc:\/\/zqueue-backend-/);
    assert.notEqual(a, b);
    assert.match(resolveBackend('ipc'), /^ipc:\/\/.*zqueue-backend-.*\.sock$/);
    assert.equal(resolveBackend('tcp://*:5560'), 'tcp://*:5560');
  });
});
