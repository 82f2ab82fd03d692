import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Device } from '../src/device/device.js';
import { createBroker } from '../src/serve/broker.js';
import { EXAMPLES, endpointFor, removeTempDirs } from './helpers.js';

after(removeTempDirs);

const pathOf = (endpoint: string): string => endpoint.slice('ipc://'.length);

describe('ipc socket files', () => {
  it('a device removes the files it bound (frontend, backend, tap) when it closes', async () => {
    const device = await new Device({
      frontend: endpointFor('ipc', 'front'),
      backend: endpointFor('ipc', 'back'),
      tap: endpointFor('ipc', 'tap'),
      policy: 'least-busy',
    }).start();
    const stats = device.stats();
    const files = [device.frontendEndpoint, device.backendEndpoint, stats.engine === 'js' ? (stats.tap?.endpoint ?? '') : ''].map(pathOf);
    for (const f of files) assert.ok(existsSync(f), `${f} exists while the device runs`);
    await device.close();
    for (const f of files) assert.ok(!existsSync(f), `${f} is gone after close`);
  });

  it('a file that replaced the bound one is left alone', async () => {
    const device = await new Device({ frontend: 'tcp://127.0.0.1:*', backend: endpointFor('ipc', 'back') }).start();
    const path = pathOf(device.backendEndpoint);
    unlinkSync(path);
    writeFileSync(path, "not the device's");
    await device.close();
    assert.equal(readFileSync(path, 'utf8'), "not the device's");
  });

  it("zqueue serve's ipc backend leaves no file behind", async () => {
    const broker = await createBroker({ handler: join(EXAMPLES, 'echo.js'), threads: 1, frontend: 'tcp://127.0.0.1:*', backend: 'ipc' });
    const path = pathOf(broker.backendEndpoint);
    try {
      assert.ok(existsSync(path));
    } finally {
      await broker.close();
    }
    assert.ok(!existsSync(path));
  });
});
