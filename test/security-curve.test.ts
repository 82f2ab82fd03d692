/** CURVE encryption, key and address allow-lists, key files, ipc permissions. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmodSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer as createTcpServer, connect, type Socket as TcpSocket } from 'node:net';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import * as zmq from 'zeromq';
import { Device } from '../src/device/device.js';
import { Server } from '../src/server/server.js';
import { Client } from '../src/client.js';
import { ErrorCode } from '../src/errors.js';
import { connectUrlFor } from '../src/endpoints.js';
import { ENGINES, resolveClientOptions, resolveDeviceOptions } from '../src/options.js';
import { loadAllowList, loadKeyPair, loadPublicKey, publicOf, writeKeyPair, z85Decode, z85Encode } from '../src/keys.js';
import { PYTHON, cli, endpointFor, freePort, pyzmqMissing, removeTempDirs, tempDir, within } from './helpers.js';

after(removeTempDirs);

const serverPair = zmq.curveKeyPair();
const clientPair = zmq.curveKeyPair();
const strangerPair = zmq.curveKeyPair();

function echoServer(device: Device, options: ConstructorParameters<typeof Server>[1] = {}): Promise<Server> {
  return new Server((req) => req, { endpoint: connectUrlFor(device.backendEndpoint), ...options }).start();
}

function client(
  device: Device,
  keys: { curveServerKey?: string; curvePublicKey?: string; curveSecretKey?: string } = {},
  timeoutMs = 3000,
): Client {
  return new Client({ endpoint: connectUrlFor(device.frontendEndpoint), timeoutMs, retries: 0, ...keys });
}

describe('key files', () => {
  it('keygen writes a public certificate and an owner-only secret one that load back', () => {
    const dir = tempDir();
    const { publicFile, secretFile, keys } = writeKeyPair(dir, 'dev');
    assert.equal(statSync(secretFile).mode & 0o777, 0o600);
    assert.equal(loadPublicKey(publicFile), keys.publicKey);
    assert.deepEqual(loadKeyPair(secretFile), keys);
    assert.equal(publicOf(keys.secretKey), keys.publicKey, 'the public key follows from the secret one');
    assert.equal(z85Encode(z85Decode(keys.secretKey)), keys.secretKey);
    assert.throws(() => writeKeyPair(dir, 'dev'), { code: ErrorCode.InvalidOption, message: /dev\.key exists/ });
    const cmd = cli(['keygen', 'two', '--dir', dir]);
    return cmd.exited.then((code) => {
      assert.equal(code, 0, cmd.stderr());
      assert.equal(cmd.stdout().trim(), loadPublicKey(join(dir, 'two.key')));
    });
  });

  it('refuses missing, malformed and wrong-kind key files with a clear message', () => {
    const dir = tempDir();
    const { publicFile, secretFile } = writeKeyPair(dir, 'k');
    const write = (name: string, text: string): string => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const cases: [() => unknown, RegExp][] = [
      [() => loadKeyPair(join(dir, 'nope.key_secret')), /cannot read the secret key file .*nope\.key_secret: no such file/],
      [() => loadKeyPair(publicFile), /holds only a public key; a secret key file is needed/],
      [() => loadKeyPair(write('junk', 'hello world\n')), /is not a CURVE key file/],
      [
        () => loadKeyPair(write('short', 'curve\n    public-key = "abc"\n    secret-key = "def"\n')),
        /public-key is not a 40-character Z85 key/,
      ],
      [
        () =>
          loadKeyPair(
            write(
              'mismatch',
              readFileSync(secretFile, 'utf8').replace(/public-key = "[^"]+"/, () => `public-key = "${strangerPair.publicKey}"`),
            ),
          ),
        /does not belong to its secret-key/,
      ],
      [() => loadPublicKey(dir), /it is a folder/],
      [() => loadAllowList(join(dir, 'missing-dir')), /cannot read the allow-list .*no such file or folder/],
    ];
    for (const [f, message] of cases) assert.throws(f, { code: ErrorCode.InvalidKey, message });
    // A folder of .key certificates and a file of bare keys both make allow-lists.
    const allow = join(dir, 'allow');
    mkdirSync(allow);
    writeKeyPair(allow, 'a');
    writeKeyPair(allow, 'b');
    assert.equal(loadAllowList(allow).length, 2);
    assert.deepEqual(loadAllowList(write('bare', `# clients\n${clientPair.publicKey}\n${strangerPair.publicKey}\n`)), [
      clientPair.publicKey,
      strangerPair.publicKey,
    ]);
  });

  it("reads pyzmq's certificates and pyzmq reads zqueue's", (t) => {
    const missing = pyzmqMissing();
    if (missing !== false) return t.skip(missing);
    const dir = tempDir();
    const ours = writeKeyPair(dir, 'ours');
    const py = spawnSync(
      PYTHON,
      [
        '-c',
        `
import sys, zmq.auth
pub, sec = zmq.auth.load_certificate(sys.argv[1])
print(pub.decode(), sec.decode())
zmq.auth.create_certificates(sys.argv[2], "theirs")
`,
        ours.secretFile,
        dir,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(py.status, 0, py.stderr);
    assert.equal(py.stdout.trim(), `${ours.keys.publicKey} ${ours.keys.secretKey}`);
    const theirs = loadKeyPair(join(dir, 'theirs.key_secret'));
    assert.equal(loadPublicKey(join(dir, 'theirs.key')), theirs.publicKey);
  });
});

for (const engine of ENGINES) {
  describe(`CURVE frontend with a client allow-list (engine ${engine})`, () => {
    it('serves an allowed client; refuses and counts a client with no key, a wrong server key or a key not on the list', async () => {
      const device = await new Device({
        frontend: 'tcp://127.0.0.1:*',
        backend: 'tcp://127.0.0.1:*',
        engine,
        curveSecretKey: serverPair.secretKey,
        allowKeys: [clientPair.publicKey],
      }).start();
      const server = await echoServer(device);
      await device.waitForPeers('backend', 1);
      const allowed = client(device, {
        curveServerKey: serverPair.publicKey,
        curvePublicKey: clientPair.publicKey,
        curveSecretKey: clientPair.secretKey,
      });
      const stranger = client(
        device,
        { curveServerKey: serverPair.publicKey, curvePublicKey: strangerPair.publicKey, curveSecretKey: strangerPair.secretKey },
        1000,
      );
      const wrongServer = client(
        device,
        { curveServerKey: strangerPair.publicKey, curvePublicKey: clientPair.publicKey, curveSecretKey: clientPair.secretKey },
        1000,
      );
      const plain = client(device, {}, 500);
      try {
        assert.deepEqual((await allowed.request('hello')).map(String), ['hello']);
        const keyRefused = once(device, 'refused');
        await assert.rejects(stranger.request('let me in'), {
          code: ErrorCode.Handshake,
          message: /CURVE handshake with .* failed \(auth: /,
        });
        assert.deepEqual(await keyRefused, ['frontend', 'key']);
        await assert.rejects(wrongServer.request('let me in'), { code: ErrorCode.Handshake });
        await assert.rejects(plain.request('let me in'), { code: ErrorCode.Timeout });
        const s = device.stats();
        assert.equal(s.security.frontend, 'curve');
        assert.ok(s.security.refused.key >= 1, 'the stranger was counted');
        assert.ok(s.security.refused.handshake >= 2, `failed handshakes counted (${s.security.refused.handshake})`);
        assert.equal(server.stats().received, 1, 'only the allowed request reached a server');
        assert.deepEqual((await allowed.request('still here')).map(String), ['still here']);
      } finally {
        await Promise.all([allowed, stranger, wrongServer, plain].map((c) => c.close()));
        await server.close();
        await device.close();
      }
    });
  });
}

describe('CURVE on the wire', () => {
  /** A tcp relay that records every byte both ways. */
  async function tapWire(target: string): Promise<{ endpoint: string; bytes: () => Buffer; close: () => Promise<void> }> {
    const port = Number(new URL(target.replace('tcp://', 'http://')).port);
    const chunks: Buffer[] = [];
    const sockets: TcpSocket[] = [];
    const relay = createTcpServer((inbound) => {
      const outbound = connect(port, '127.0.0.1');
      sockets.push(inbound, outbound);
      inbound.on('data', (d: Buffer) => chunks.push(d));
      outbound.on('data', (d: Buffer) => chunks.push(d));
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
    });
    relay.listen(0, '127.0.0.1');
    await once(relay, 'listening');
    const addr = relay.address();
    const relayPort = typeof addr === 'object' && addr !== null ? addr.port : 0;
    return {
      endpoint: `tcp://127.0.0.1:${relayPort}`,
      bytes: () => Buffer.concat(chunks),
      close: async () => {
        for (const s of sockets) s.destroy();
        await new Promise<void>((r) => relay.close(() => r()));
      },
    };
  }

  for (const curve of [true, false]) {
    it(curve ? 'hides request and reply payloads' : '(control) shows them without CURVE, so the capture works', async () => {
      const device = await new Device({
        frontend: 'tcp://127.0.0.1:*',
        backend: endpointFor('inproc', 'wire'),
        ...(curve ? { curveSecretKey: serverPair.secretKey } : {}),
      }).start();
      const server = await new Server((req) => `reply to ${req[0]?.toString() ?? ''}`, {
        endpoint: connectUrlFor(device.backendEndpoint),
      }).start();
      const wire = await tapWire(connectUrlFor(device.frontendEndpoint));
      const c = new Client({
        endpoint: wire.endpoint,
        timeoutMs: 3000,
        retries: 0,
        ...(curve ? { curveServerKey: serverPair.publicKey } : {}),
      });
      try {
        const reply = await c.request('TOP-SECRET-PAYLOAD-4711');
        assert.equal(reply[0]?.toString(), 'reply to TOP-SECRET-PAYLOAD-4711');
        const captured = wire.bytes();
        assert.ok(captured.length > 100, 'bytes were captured');
        assert.equal(captured.includes('TOP-SECRET-PAYLOAD-4711'), !curve);
        assert.equal(captured.includes('reply to'), !curve);
        assert.equal(captured.includes('CURVE'), curve, 'the greeting names the mechanism');
      } finally {
        await c.close();
        await wire.close();
        await server.close();
        await device.close();
      }
    });
  }
});

describe('allow-lists', () => {
  it('setAllowList lets a new key in without a restart, and a bad list changes nothing', async () => {
    const device = await new Device({
      frontend: 'tcp://127.0.0.1:*',
      backend: endpointFor('inproc', 'reload'),
      curveSecretKey: serverPair.secretKey,
      allowKeys: [],
    }).start();
    const server = await echoServer(device);
    const keys = { curveServerKey: serverPair.publicKey, curvePublicKey: clientPair.publicKey, curveSecretKey: clientPair.secretKey };
    const before = client(device, keys, 1000);
    const afterReload = client(device, keys);
    try {
      await assert.rejects(before.request('x'), { code: ErrorCode.Handshake });
      assert.throws(() => device.setAllowList({ keys: ['not a key'] }), { code: ErrorCode.InvalidOption, message: /allowKeys/ });
      device.setAllowList({ keys: [clientPair.publicKey] });
      assert.deepEqual((await afterReload.request('x')).map(String), ['x']);
    } finally {
      await before.close();
      await afterReload.close();
      await server.close();
      await device.close();
    }
  });

  it('allowFrom admits listed source ranges and refuses and counts others', async () => {
    for (const [ranges, admitted] of [
      [['127.0.0.0/8'], true],
      [['10.0.0.0/8', '::1/128'], false],
    ] as const) {
      const device = await new Device({ frontend: 'tcp://127.0.0.1:*', backend: endpointFor('inproc', 'from'), allowFrom: ranges }).start();
      const server = await echoServer(device);
      const c = client(device, {}, 700);
      try {
        if (admitted) {
          assert.deepEqual((await c.request('hi')).map(String), ['hi']);
        } else {
          const refused = once(device, 'refused');
          await assert.rejects(c.request('hi'), { code: ErrorCode.Timeout });
          assert.deepEqual(await refused, ['frontend', 'address']);
          assert.ok(device.stats().security.refused.address >= 1);
        }
      } finally {
        await c.close();
        await server.close();
        await device.close();
      }
    }
  });

  it('a CURVE backend with a server allow-list: an allowed server joins, another is refused', async () => {
    const backendPair = zmq.curveKeyPair();
    const goodServer = zmq.curveKeyPair();
    const device = await new Device({
      frontend: 'tcp://127.0.0.1:*',
      backend: 'tcp://127.0.0.1:*',
      policy: 'least-busy',
      backendCurveSecretKey: backendPair.secretKey,
      allowServerKeys: [goodServer.publicKey],
    }).start();
    const refused = once(device, 'refused');
    const bad = await echoServer(device, { curveServerKey: backendPair.publicKey });
    const good = await echoServer(device, {
      curveServerKey: backendPair.publicKey,
      curvePublicKey: goodServer.publicKey,
      curveSecretKey: goodServer.secretKey,
    });
    const c = client(device);
    try {
      assert.deepEqual(await refused, ['backend', 'key']);
      await device.waitForWorkers(1);
      for (let i = 0; i < 5; i++) assert.deepEqual((await c.request(`r${i}`)).map(String), [`r${i}`]);
      assert.equal(good.stats().received, 5);
      assert.equal(bad.stats().received, 0);
      const s = device.stats();
      assert.equal(s.security.backend, 'curve');
      assert.equal(s.counted && s.workers.length, 1);
    } finally {
      await c.close();
      await bad.close({ timeoutMs: 0 });
      await good.close();
      await device.close();
    }
  });

  it('refuses inconsistent or malformed security options, never echoing a key', () => {
    assert.throws(() => resolveDeviceOptions({ allowKeys: [clientPair.publicKey] }), {
      code: ErrorCode.InvalidOption,
      message: /option "allowKeys" must be null unless curveSecretKey is set/,
    });
    assert.throws(
      () => resolveDeviceOptions({ curveSecretKey: 'tooshort' }),
      (err: Error) => /option "curveSecretKey" must be a 40-character Z85 key/.test(err.message) && !err.message.includes('tooshort'),
    );
    assert.throws(() => resolveDeviceOptions({ allowFrom: ['10.0.0.0/33'] }), {
      code: ErrorCode.InvalidOption,
      message: /option "allowFrom" must be a list of CIDR ranges/,
    });
    assert.throws(() => resolveClientOptions({ curvePublicKey: clientPair.publicKey }), {
      code: ErrorCode.InvalidOption,
      message: /curveSecretKey/,
    });
    const generated = resolveClientOptions({ curveServerKey: serverPair.publicKey });
    assert.equal(publicOf(generated.curveSecretKey), generated.curvePublicKey, 'a client with only the server key gets a fresh key pair');
  });
});

describe('ipc socket files', () => {
  it('are bound owner-only by default, or as ipcMode says', async () => {
    for (const [mode, expected] of [
      [undefined, 0o600],
      [0o660, 0o660],
    ] as const) {
      const front = endpointFor('ipc', 'perm');
      const device = await new Device({
        frontend: front,
        backend: endpointFor('ipc', 'perm-back'),
        ...(mode !== undefined ? { ipcMode: mode } : {}),
      }).start();
      try {
        assert.equal(statSync(front.slice('ipc://'.length)).mode & 0o777, expected);
      } finally {
        await device.close();
      }
    }
  });

  it('zqueue device re-reads --allow-keys on SIGHUP: a key added to the folder gets in', async () => {
    const dir = tempDir();
    const allowDir = join(dir, 'allowed');
    mkdirSync(allowDir);
    const dev = writeKeyPair(dir, 'device');
    const alice = writeKeyPair(dir, 'alice');
    const [front, back] = [await freePort(), await freePort()];
    const device = cli([
      'device',
      '--frontend',
      `tcp://127.0.0.1:${front}`,
      '--backend',
      `tcp://127.0.0.1:${back}`,
      '--curve-secret-key',
      dev.secretFile,
      '--allow-keys',
      allowDir,
      '--log-format',
      'json',
    ]);
    const server = cli(['server', '--connect', `tcp://127.0.0.1:${back}`, '--delay', '0', '--quiet']);
    const keys = { curveServerKey: dev.keys.publicKey, curvePublicKey: alice.keys.publicKey, curveSecretKey: alice.keys.secretKey };
    const before = new Client({ endpoint: `tcp://127.0.0.1:${front}`, timeoutMs: 1000, retries: 0, ...keys });
    const after = new Client({ endpoint: `tcp://127.0.0.1:${front}`, timeoutMs: 5000, retries: 0, ...keys });
    try {
      await within(10_000, 'device up', device.waitFor('"event":"bound"'));
      await assert.rejects(before.request('hi'), { code: ErrorCode.Handshake });
      writeFileSync(join(allowDir, 'alice.key'), readFileSync(alice.publicFile));
      device.kill('SIGHUP');
      await within(5000, 'reloaded', device.waitFor('"event":"allow-list-reloaded","keys":1'));
      assert.match((await after.request('hi'))[0]?.toString() ?? '', /^World from server/);
    } finally {
      await before.close();
      await after.close();
      server.kill();
      device.kill();
      await Promise.all([server.exited, device.exited]);
    }
  });

  it('zqueue device --curve-secret-key with a public key file fails with one clear line', async () => {
    const dir = tempDir();
    const { publicFile } = writeKeyPair(dir, 'dev');
    chmodSync(publicFile, 0o644);
    const p = cli(['device', '--frontend', 'tcp://127.0.0.1:*', '--backend', 'tcp://127.0.0.1:*', '--curve-secret-key', publicFile]);
    assert.equal(await within(10_000, 'device exits', p.exited), 1);
    assert.match(p.stderr().trim(), /^zqueue device: .*dev\.key holds only a public key; a secret key file is needed here/);
  });
});
