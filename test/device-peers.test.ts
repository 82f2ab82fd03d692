/**
 * The frontend's peer count (zqueue_peers{side="frontend"}) under raw tcp
 * peers that say a few bytes and leave: ZMTP/1.0 greetings (which libzmq
 * reports with one ROUTER_NOTIFY notice, at their end) and random bytes.
 * It counts the clients connected, nothing else.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import * as zmq from 'zeromq';
import { createDevice } from '../src/device/device.js';
import { within } from './helpers.js';

/** Connects, writes `bytes`, closes, and resolves once the connection is over. */
function rawPeer(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(bytes, () => s.destroy()));
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}

describe('the frontend peer count', () => {
  it('ZMTP/1.0 greetings and random bytes that leave do not count; connected clients do', async () => {
    const device = await createDevice({ policy: 'least-busy', frontend: 'tcp://127.0.0.1:*', backend: 'inproc://peers-back' });
    const port = Number(device.frontendEndpoint.split(':').pop());
    const peersAt = (n: number): Promise<void> =>
      new Promise((resolve) => {
        if (device.stats().peers.frontend === n) return resolve();
        const on = (side: string, count: number): void => {
          if (side !== 'frontend' || count !== n) return;
          device.off('peer', on);
          resolve();
        };
        device.on('peer', on);
      });
    const first = new zmq.Dealer({ linger: 0 });
    const second = new zmq.Dealer({ linger: 0 });
    try {
      const one = peersAt(1);
      first.connect(`tcp://127.0.0.1:${port}`);
      await within(5000, 'one client', one);
      // ZMTP/1.0: a length, flags, an identity; one that also sends a message; random bytes.
      const v1 = (i: number): Buffer => Buffer.concat([Buffer.from([0x05, 0x00]), Buffer.from(`id${i.toString().padStart(2, '0')}`)]);
      const peers: Promise<void>[] = [];
      for (let i = 0; i < 20; i++) peers.push(rawPeer(port, v1(i)));
      for (let i = 0; i < 20; i++) peers.push(rawPeer(port, Buffer.concat([v1(50 + i), Buffer.from([0x03, 0x00, 0x68, 0x69])])));
      for (let i = 0; i < 40; i++) peers.push(rawPeer(port, randomBytes(64)));
      await within(10_000, 'the raw peers are gone', Promise.all(peers));
      // Notices come in order on the frontend: once the second client is counted, every earlier one was seen.
      const two = peersAt(2);
      second.connect(`tcp://127.0.0.1:${port}`);
      await within(5000, 'two clients', two);
      assert.equal(device.stats().peers.frontend, 2);
    } finally {
      first.close();
      second.close();
      await device.close();
    }
  });
});
