/** The MQTT settings topic (§5.4) feeds the same configuration model as the admin API. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqlConfigStore } from '../../../src/adapters/sql/config-store.js';
import { SqliteStorage } from '../../../src/adapters/sqlite/sqlite-storage.js';
import { ConfigService } from '../../../src/config/config-service.js';
import { armedAt } from '../../../src/model/replay-window.js';
import { parseFieldSettings } from '../../../src/mqtt/settings-topic.js';

let storage: SqliteStorage;
let config: ConfigService;

beforeEach(async () => {
  storage = await SqliteStorage.open({ dataDir: ':memory:', synchronous: 'FULL', maxBatch: 64 });
  config = new ConfigService(new SqlConfigStore(storage.sql, storage.writer.writes.config), storage);
  await storage.createDevice(
    {
      id: 'site-7',
      status: 'active',
      policy: { allowUnsecured: false, requireEncryption: false, replay: { kind: 'strict' } },
      keys: [],
      replay: armedAt(10_000),
      createdAt: 1,
    },
    { time: 1, actor: 'test', action: 'device.added', deviceId: 'site-7', reason: null },
  );
});
afterEach(async () => {
  await storage.close();
});

function settings(message: Record<string, unknown>) {
  const parsed = parseFieldSettings(JSON.stringify(message));
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed;
}

describe('field settings from MQTT', () => {
  it('a message for no device changes the fleet default, Node-RED register names included', async () => {
    const m = settings({
      Changed: true,
      pollFreqChanged: true,
      newPollTimer: 5,
      uploadFreqChanged: true,
      newUploadTimer: 20,
      regsChanged: true,
      regs: ['VAC1', 'PAC'],
      regsCount: 2,
    });
    await config.applyFieldSettings(m.target, m.settings);
    expect((await config.fleet()).values).toEqual({
      sampling_interval: 5,
      upload_interval: 20,
      registers: ['Vac1', 'Pac'],
    });
    const [version] = await config.history(null, 10);
    expect(version).toMatchObject({ actor: 'mqtt', source: 'mqtt', scope: null });
    const device = await config.status('site-7');
    expect(device.offer).toEqual({ sampling_interval: 5, upload_interval: 20, registers: ['Vac1', 'Pac'] });
  });

  it('a message naming a device changes only that device', async () => {
    const m = settings({ device_id: 'site-7', Changed: true, uploadFreqChanged: true, newUploadTimer: 10 });
    await config.applyFieldSettings(m.target, m.settings);
    expect((await config.fleet()).version).toBe(0);
    expect((await config.status('site-7')).overrides).toEqual({ upload_interval: 10 });
  });

  it('changes nothing unless Changed is true, like the device', async () => {
    const m = settings({ Changed: false, pollFreqChanged: true, newPollTimer: 9 });
    await config.applyFieldSettings(m.target, m.settings);
    expect((await config.fleet()).version).toBe(0);
  });

  it('refuses settings that would stall a field device, storing nothing', async () => {
    const m = settings({
      Changed: true,
      pollFreqChanged: true,
      newPollTimer: 1,
      uploadFreqChanged: true,
      newUploadTimer: 20,
    });
    await expect(config.applyFieldSettings(m.target, m.settings)).rejects.toMatchObject({
      code: 'invalid_parameter',
    });
    expect((await config.fleet()).version).toBe(0);
  });
});
