/**
 * The simulated fleet doing what field devices do besides uploading, against the real server:
 * it follows configuration changes (the server sees them applied, and the devices really upload
 * at the new cadence), runs queued commands, takes a rotated v2 key, and installs a firmware
 * update offered by a rollout (refusing the images that were tampered with on the way).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceFirmwareKeys } from '../../src/protocol/firmware/device-update.js';
import { deviceKeysFromDir } from '../../src/sim/ota-device-keys.js';
import { runSimulation } from '../../src/sim/simulator.js';
import {
  expectingAdmin,
  ROOT,
  type RunningServer,
  startServer,
  tempDataDir,
} from '../helpers/server-process.js';

const run = promisify(execFile);
let server: RunningServer;
let firmwareKeys: DeviceFirmwareKeys;

beforeAll(async () => {
  const dataDir = tempDataDir();
  await run(process.execPath, [path.join(ROOT, 'bin/ecowatt.js'), 'keys', 'generate', '--data-dir', dataDir]);
  firmwareKeys = deviceKeysFromDir(path.join(dataDir, 'keys'));
  server = await startServer({ dataDir, env: { ECOWATT_MQTT_EMBEDDED: 'false' } });
});
afterAll(async () => {
  await server?.stop();
});

const admin = expectingAdmin(() => server);

async function provision(id: string): Promise<{ deviceId: string; kid: string; key: Buffer }> {
  const made = await admin('POST', '/api/devices', { id, key_kind: 'v2' }, 201);
  return { deviceId: id, kid: made.key.kid, key: Buffer.from(made.key.key, 'hex') };
}

/** A device's stored uploads, oldest first, with the device's own millis() of each. */
async function uploadsOf(id: string): Promise<{ receivedAt: number; millis: number; nonce: number }[]> {
  const list = await admin('GET', `/api/devices/${id}/uploads?limit=200`);
  const out = [];
  for (const u of [...list.uploads].reverse() as { id: string }[]) {
    const full = await admin('GET', `/api/uploads/${u.id}`);
    out.push({ receivedAt: Date.parse(full.received_at), millis: full.device_timestamp, nonce: full.nonce });
  }
  return out;
}

const gaps = (xs: readonly number[]) => xs.slice(1).map((x, i) => x - xs[i]);
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('a fleet under remote control', () => {
  it('follows configuration changes, runs commands and takes a rotated key', async () => {
    const v1 = ['ctl-0001', 'ctl-0002', 'ctl-0003'];
    for (const id of v1) {
      await admin('POST', '/api/devices', { id }, 201);
      await admin('PUT', `/api/devices/${id}/config`, { sampling_interval: 1, upload_interval: 5 });
    }
    const v2 = await provision('ctl-v2');
    await admin('PUT', '/api/devices/ctl-v2/config', {
      sampling_interval: 1,
      upload_interval: 5,
      registers: ['Vac1', 'Pow', 'Pac'],
    });
    const queued = [
      ['ctl-0001', { type: 'set_power_percentage', percentage: 40 }, 40],
      ['ctl-0001', { type: 'write_register', register: 'Pow', value: 60 }, 60],
      ['ctl-0002', { type: 'set_power', power_value: 2500 }, 25],
      ['ctl-v2', { type: 'set_power_percentage', percentage: 30 }, 30],
    ] as const;
    const commands: { device: string; id: string; percent: number }[] = [];
    for (const [device, body, percent] of queued) {
      const c = await admin('POST', `/api/devices/${device}/commands`, body, 201);
      commands.push({ device, id: c.id, percent });
    }

    const simulation = runSimulation({
      url: server.url,
      devices: 3,
      v2Devices: [v2],
      idPrefix: 'ctl',
      // 15 s of device time per 0.45 s: the new 5 s interval is three times as frequent.
      intervalSeconds: 0.45,
      durationSeconds: 5,
      encrypt: true,
      changesIntervalSeconds: 0.2,
      commandsIntervalSeconds: 0.2,
    });
    await new Promise((r) => setTimeout(r, 1500));
    const rotated = await admin('POST', '/api/devices/ctl-v2/keys', { reason: 'yearly' }, 201);
    const summary = await simulation;

    expect(summary.unexpectedExamples).toEqual([]);
    expect(summary.unexpected).toBe(0);
    expect(summary.rejected).toEqual({});
    // Sampling and upload interval on four devices, and the v2 device's register selection.
    expect(summary.control.config.applied).toBe(9);
    expect(summary.control.config.keyRotations).toBe(1);
    expect(summary.control.commands).toEqual({ succeeded: 4, failed: 0 });

    for (const id of [...v1, 'ctl-v2']) {
      const config = await admin('GET', `/api/devices/${id}/config`);
      expect(config.keys.sampling_interval.state, id).toBe('applied');
      expect(config.keys.upload_interval.state, id).toBe('applied');
      if (id !== 'ctl-v2') expect(config.state, id).toBe('applied');

      // The uploads show it: 15 s apart in the device's time before, 5 s after; and they really
      // came faster (0.45 s of wall clock each before, 0.15 s after).
      const uploads = await uploadsOf(id);
      const millis = gaps(uploads.map((u) => u.millis));
      expect(millis[0], id).toBe(15_000);
      expect(millis.slice(-5), id).toEqual([5000, 5000, 5000, 5000, 5000]);
      const wall = gaps(uploads.map((u) => u.receivedAt));
      expect(mean(wall.slice(-8)), id).toBeLessThan(wall[0] * 0.67);
    }

    for (const c of commands) {
      const stored = await admin('GET', `/api/devices/${c.device}/commands/${c.id}`);
      expect(stored, c.device).toMatchObject({
        status: 'succeeded',
        attempts: 1,
        detail: `export power limit set to ${c.percent} %`,
      });
    }

    // The v2 device reads the registers it was told to (Pow among them, losslessly), so the
    // export limit the command set shows up in its readings.
    const pow = await admin('GET', '/api/devices/ctl-v2/readings?register=Pow&limit=10000');
    const values = pow.readings.map((r: { raw: number }) => r.raw);
    expect(values.length).toBeGreaterThan(0);
    expect(values[values.length - 1]).toBe(30);

    // It switched to the rotated key, and the server retired the old one.
    const uploads = await admin('GET', '/api/devices/ctl-v2/uploads?limit=1');
    expect(uploads.uploads[0].key).toBe(rotated.key.kid);
    const audit = await admin('GET', '/api/audit?device=ctl-v2');
    expect(audit.entries.map((e: { action: string }) => e.action)).toContain('key.retired');
  });

  it('installs a firmware update offered by a rollout, and refuses the images tampered with', async () => {
    const image = Buffer.alloc(5000);
    for (let i = 0; i < image.length; i++) image[i] = (i * 131 + 7) & 0xff;
    image[0] = 0xe9;
    const added = await fetch(`${server.url}/api/firmware?version=2.1.0`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/octet-stream' },
      body: image,
    });
    expect(added.status).toBe(201);
    const v2 = await provision('ota-v2');
    const ids = ['ota-0001', 'ota-0002', 'ota-0003', 'ota-0004', 'ota-0005', 'ota-0006', 'ota-v2'];
    const created = await admin(
      'POST',
      '/api/rollouts',
      { version: '2.1.0', target: { kind: 'devices', devices: ids }, failure_threshold: 0.5 },
      201,
    );

    // The v1 devices are not registered: the server learns of them by their first upload.
    const summary = await runSimulation({
      url: server.url,
      devices: 6,
      v2Devices: [v2],
      idPrefix: 'ota',
      intervalSeconds: 0.2,
      durationSeconds: 4,
      encrypt: false,
      firmwareIntervalSeconds: 0.3,
      firmwareKeys,
      // Spread evenly over the fleet: ota-0004 gets a flipped chunk byte, ota-0005 a flipped
      // signature byte.
      misbehave: { badchunk: 0.17, badsignature: 0.17 },
    });

    expect(summary.unexpectedExamples).toEqual([]);
    expect(summary.unexpected).toBe(0);
    expect(summary.rejected).toEqual({});
    expect(summary.control.firmware).toEqual({ updated: 5, refused: 2, errors: 0 });
    expect(summary.firmware).toEqual({ '2.1.0': 5, '1.0.0': 2 });

    // The server's view: every device's session ended as the device reported it.
    const { rollout, sessions } = await admin('GET', `/api/rollouts/${created.rollout.id}`);
    expect(rollout.counts).toMatchObject({ sessions: 7, succeeded: 5, failed: 2 });
    const state = Object.fromEntries(
      (sessions as { device_id: string; state: string; outcome: string | null }[]).map((s) => [
        s.device_id,
        s,
      ]),
    );
    for (const id of ids) {
      const expected = id === 'ota-0004' || id === 'ota-0005' ? 'failed' : 'succeeded';
      expect(state[id]?.state, id).toBe(expected);
    }
    expect(state['ota-0004'].outcome).toMatch(/hmac_mismatch/);
    expect(state['ota-0005'].outcome).toMatch(/signature_invalid/);

    // Booting the new image restarted millis(); uploads went on with increasing nonces.
    const uploads = await uploadsOf('ota-0001');
    const nonces = uploads.map((u) => u.nonce);
    expect(gaps(nonces).every((g) => g > 0)).toBe(true);
    expect(gaps(uploads.map((u) => u.millis)).some((g) => g < 0)).toBe(true);
  });
});
