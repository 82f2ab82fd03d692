/** connectTo(): zmq_connect interrupted by a signal (EINTR, as under a profiler's SIGPROF) is tried again; other errors are not. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connectTo } from '../src/endpoints.js';

function failing(codes: string[]): { connect(endpoint: string): void; calls: string[]; ipv6: boolean } {
  const calls: string[] = [];
  return {
    calls,
    ipv6: false,
    connect(endpoint: string) {
      calls.push(endpoint);
      const code = codes.shift();
      if (code !== undefined) throw Object.assign(new Error(code), { code });
    },
  };
}

describe('connectTo', () => {
  it('tries again after EINTR, and connects', () => {
    const s = failing(['EINTR', 'EINTR']);
    connectTo(s, 'tcp://127.0.0.1:5559');
    assert.deepEqual(s.calls, ['tcp://127.0.0.1:5559', 'tcp://127.0.0.1:5559', 'tcp://127.0.0.1:5559']);
  });

  it('throws any other error at once', () => {
    const s = failing(['EINVAL']);
    assert.throws(() => connectTo(s, 'tcp://nowhere'), { code: 'EINVAL' });
    assert.equal(s.calls.length, 1);
  });

  it('sets ZMQ_IPV6 for an IPv6 address (libzmq connects nowhere without it), and only then', () => {
    const v6 = failing([]);
    connectTo(v6, 'tcp://[::1]:5559');
    assert.equal(v6.ipv6, true);
    const v4 = failing([]);
    connectTo(v4, 'tcp://127.0.0.1:5559');
    assert.equal(v4.ipv6, false);
  });

  it('gives up after 100 interruptions in a row', () => {
    const s = failing(Array.from({ length: 200 }, () => 'EINTR'));
    assert.throws(() => connectTo(s, 'tcp://127.0.0.1:5559'), { code: 'EINTR' });
    assert.equal(s.calls.length, 100);
  });
});
