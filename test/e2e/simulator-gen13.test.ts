/**
 * Simulated generation 1.3 devices (`ecowatt simulate --generation 1.3`) against the real server:
 * every upload accepted and every reading stored as the device read it, at the time it read it;
 * the boot sequence, configuration changes applied and acknowledged, commands run with their
 * results recorded, energy and fault-recovery reports, and a firmware update installed (and one
 * with a tampered signature refused), each request counted by kind with its answer.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceFirmwareKeys } from '../../src/protocol/firmware/device-update.js';
import { freshNvs13 } from '../../src/sim/gen13-config.js';
import { deviceKeysFromDir } from '../../src/sim/ota-device-keys.js';
import { runSimulation } from '../../src/sim/simulator.js';
import { expectedReadings, type Reading } from '../helpers/gen13-readings.js';
import {
  expectingAdmin,
  ROOT,
  type RunningServer,
  startServer,
  tempDataDir,
} from '../helpers/server-process.js';

const run = promisify(execFile);
let server: RunningServer;
let keys13: DeviceFirmwareKeys;

beforeAll(async () => {
  const dataDir = tempDataDir();
  await run(process.execPath, [
    path.join(ROOT, 'bin/ecowatt.js'),
    'keys',
    'generate',
    '--data-dir',
    dataDir,
    '--generation',
    '1.3',
  ]);
  keys13 = deviceKeysFromDir(path.join(dataDir, 'keys'), '1.3');
  // Bare control requests of generation 1.3 (the firmware signs none), bound to the upload address.
  server = await startServer({
    dataDir,
    env: { ECOWATT_MQTT_EMBEDDED: 'false', ECOWATT_UNSECURED_CONTROL: '1.3' },
  });
});
afterAll(async () => {
  await server?.stop();
});

const admin = expectingAdmin(() => server);

describe('generation 1.3 devices in the fleet simulator', () => {
  it('uploads as the firmware does: every upload accepted, every reading stored as read', async () => {
    const summary = await runSimulation({
      url: server.url,
      devices: 0,
      gen13: { devices: 3 },
      idPrefix: 'g13u',
      // 15 s of device time per 3 s of wall clock: an upload of 3 samples every 3 s.
      intervalSeconds: 3,
      durationSeconds: 20,
      encrypt: false,
      keepAcknowledged: true,
    });

    expect(summary.unexpectedExamples).toEqual([]);
    expect(summary.unexpected).toBe(0);
    expect(summary.rejected).toEqual({});
    expect(summary.transportErrors).toBe(0);
    expect(summary.accepted).toBe(summary.sent);
    expect(summary.firmware).toEqual({ '1.3.4': 3 });
    expect(summary.gen13).toMatchObject({ devices: 3, retries: 0, failedCycles: 0, oversizedCycles: 0 });
    expect(summary.gen13?.uploadCycles).toBe(summary.sent);
    // The boot sequence: the probe at once; registration and the running config once the server
    // knew the device (its first accepted upload).
    const requests = summary.control.requests;
    expect(requests.boot).toEqual({ sent: 3, outcomes: { '200': 3 }, unexpected: 0 });
    expect(requests.registration).toEqual({ sent: 3, outcomes: { '200': 3 }, unexpected: 0 });
    expect(requests.config_current).toEqual({ sent: 3, outcomes: { '200': 3 }, unexpected: 0 });
    // Config polls every 5 s and command polls every 10 s of device time, all answered.
    expect(requests.config?.sent).toBeGreaterThanOrEqual(3 * 8);
    expect(requests.config?.outcomes).toEqual({ '200': requests.config?.sent });
    expect(requests.commands?.outcomes).toEqual({ '200': requests.commands?.sent });

    for (const id of ['g13u-0001', 'g13u-0002', 'g13u-0003']) {
      const acks = summary.acknowledged.filter((a) => a.deviceId === id);
      expect(acks.length, id).toBeGreaterThanOrEqual(5);
      // Nonces from the 1.3 boot floor, one per attempt.
      expect(acks.map((a) => a.nonce)).toEqual(acks.map((_, i) => 11_001 + i));
      // Every upload is one packet of the samples since the previous one: 3 of all ten registers.
      for (const a of acks) {
        expect(a.gen13?.registerLayouts).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]);
        expect(a.values[0]).toHaveLength(30);
      }
      const expected = expectedReadings(acks);
      const device = await admin('GET', `/api/devices/${id}`);
      expect(device.generation).toBe('1.3');
      const stored = (await admin('GET', `/api/devices/${id}/readings?limit=10000`)).readings as Reading[];
      expect(stored.length, id).toBe(expected.size);
      for (const r of stored) {
        const key = `${r.upload}/${r.packet}/${r.sample}/${r.reg_id}`;
        const want = expected.get(key);
        expect({ reg_id: r.reg_id, raw: r.raw, quality: r.quality }, key).toEqual({
          ...want,
          time: undefined,
        });
        // When it was read, to the millisecond: the packet's 32-bit unix-ms stamp set against the
        // upload's unix seconds (even when the last sample falls in the upload's own second).
        expect(Date.parse(r.time), key).toBe(Date.parse(want?.time ?? ''));
      }
      // Within a packet, samples are sampling_interval (5 s) apart, as the device read them.
      const byPacket = new Map<string, Set<number>>();
      for (const r of stored) {
        const key = `${r.upload}/${r.packet}`;
        byPacket.set(key, (byPacket.get(key) ?? new Set()).add(Date.parse(r.time)));
      }
      for (const [key, set] of byPacket) {
        const times = [...set].sort((a, b) => a - b);
        expect(
          times.slice(1).map((t, i) => t - times[i]),
          key,
        ).toEqual([5000, 5000]);
      }
    }
  });

  it('follows the server: configuration, commands, energy and fault reports, a firmware update', async () => {
    const ids = ['g13c-0001', 'g13c-0002', 'g13c-0003'];
    // Known to the server beforehand, so that changes and commands can wait for them.
    for (const id of ids) await admin('POST', '/api/devices', { id }, 201);
    await admin('PUT', '/api/devices/g13c-0001/config', { sampling_interval: 3, upload_interval: 12 });
    const queued = [
      ['g13c-0002', { type: 'set_power_percentage', percentage: 40 }],
      ['g13c-0003', { type: 'write_register', register: 'Pow', value: 70 }],
    ] as const;
    const commands: { device: string; id: string }[] = [];
    for (const [device, body] of queued) {
      const c = await admin('POST', `/api/devices/${device}/commands`, body, 201);
      commands.push({ device, id: c.id });
    }
    const image = Buffer.alloc(6000);
    for (let i = 0; i < image.length; i++) image[i] = (i * 131 + 7) & 0xff;
    image[0] = 0xe9;
    const added = await fetch(`${server.url}/api/firmware?version=1.3.5&generation=1.3`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/octet-stream' },
      body: image,
    });
    expect(added.status).toBe(201);
    const rollout = await admin(
      'POST',
      '/api/rollouts',
      {
        version: '1.3.5',
        target: { kind: 'devices', devices: ['g13c-0001', 'g13c-0002'] },
        failure_threshold: 0.9,
      },
      201,
    );

    const nvs = freshNvs13();
    nvs.otaUs = 10_000_000;
    nvs.energyUs = 60_000_000;
    const summary = await runSimulation({
      url: server.url,
      devices: 0,
      gen13: { devices: 3, nvs, faults: { timeout: 0.1, crc_error: 0.1 }, firmwareKeys: keys13 },
      idPrefix: 'g13c',
      // 15 s of device time per wall second: the energy report (every 60 s) comes every 4 s.
      intervalSeconds: 1,
      durationSeconds: 20,
      encrypt: false,
      // g13c-0002's download gets a flipped signature byte: it must refuse the image.
      misbehave: { badsignature: 0.3 },
    });

    expect(summary.unexpectedExamples).toEqual([]);
    expect(summary.unexpected).toBe(0);
    expect(summary.rejected).toEqual({});
    const c = summary.control;
    // The two keys of g13c-0001, acknowledged at once and running after its next upload.
    expect(c.config.changesReceived).toBe(1);
    expect(c.config.applied).toBe(2);
    expect(c.requests.config_ack).toEqual({ sent: 1, outcomes: { '200': 1 }, unexpected: 0 });
    expect(c.commands).toEqual({ succeeded: 2, failed: 0 });
    expect(c.firmware).toEqual({ updated: 1, refused: 1, errors: 0 });
    expect(summary.firmware).toEqual({ '1.3.5': 1, '1.3.4': 2 });
    expect(summary.gen13?.reboots).toBe(1);
    // The updated device booted again: probe, registration and its running config once more.
    expect(c.requests.registration?.sent).toBe(4);
    expect(c.requests.config_current?.sent).toBe(4);
    expect(summary.gen13?.energyReports).toBeGreaterThanOrEqual(6);
    expect(c.requests.energy?.outcomes).toEqual({ '201': c.requests.energy?.sent });
    expect(summary.gen13?.faultReports).toBeGreaterThan(0);
    expect(c.requests.fault?.outcomes).toEqual({ '201': c.requests.fault?.sent });

    const config = await admin('GET', '/api/devices/g13c-0001/config');
    expect(config.keys.sampling_interval.state).toBe('applied');
    expect(config.keys.upload_interval.state).toBe('applied');
    for (const cmd of commands) {
      const stored = await admin('GET', `/api/devices/${cmd.device}/commands/${cmd.id}`);
      expect(stored.status, cmd.device).toBe('succeeded');
    }
    // The export limits the commands set show up in what the devices read.
    const pow = async (id: string) =>
      (
        (await admin('GET', `/api/devices/${id}/readings?register=Pow&limit=10000`)).readings as Reading[]
      ).map((r) => r.raw);
    expect((await pow('g13c-0002')).at(-1)).toBe(40);
    expect((await pow('g13c-0003')).at(-1)).toBe(70);

    const { sessions } = await admin('GET', `/api/rollouts/${rollout.rollout.id}`);
    const state = Object.fromEntries(
      (sessions as { device_id: string; state: string; outcome: string | null }[]).map((s) => [
        s.device_id,
        s,
      ]),
    );
    expect(state['g13c-0001'].state).toBe('succeeded');
    expect(state['g13c-0002'].state).toBe('failed');
    expect(state['g13c-0002'].outcome).toMatch(/signature_invalid/);

    const energy = await admin('GET', '/api/devices/g13c-0003/energy');
    expect(JSON.stringify(energy)).toContain('0x08');
    const faults = await admin('GET', '/api/devices/g13c-0001/faults');
    expect(JSON.stringify(faults)).toMatch(/timeout|crc_error/);
  });
});

describe('ecowatt simulate --generation', () => {
  async function simulate(...args: string[]) {
    try {
      const r = await run(process.execPath, [path.join(ROOT, 'bin/ecowatt.js'), 'simulate', ...args]);
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('runs a mixed fleet: e84f720 devices first, 1.3 devices after them, counted together', async () => {
    const r = await simulate(
      '--url',
      server.url,
      '--generation',
      'mixed',
      '--gen13-share',
      '0.5',
      '-n',
      '4',
      '--prefix',
      'g13mix',
      '--interval',
      '1',
      '--duration',
      '6',
      '--ota-interval',
      '0',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.devices).toBe(4);
    expect(s.unexpected).toBe(0);
    expect(s.firmware).toEqual({ '1.0.0': 2, '1.3.4': 2 });
    expect(s.gen13.devices).toBe(2);
    expect(s.control.requests.boot).toEqual({ sent: 2, outcomes: { '200': 2 }, unexpected: 0 });
    // e84f720 devices ask /changes; 1.3 devices GET /config/<id>.
    expect(s.control.requests.changes.sent).toBeGreaterThan(0);
    expect(s.control.requests.config.sent).toBeGreaterThan(0);
    for (const id of ['g13mix-0001', 'g13mix-0002', 'g13mix-0003', 'g13mix-0004']) {
      const device = await admin('GET', `/api/devices/${id}`);
      expect(device.generation ?? 'e84f720', id).toBe(id >= 'g13mix-0003' ? '1.3' : 'e84f720');
    }
  });

  it('refuses settings a 1.3 device would not keep', async () => {
    const r = await simulate(
      '--url',
      server.url,
      '--generation',
      '1.3',
      '--gen13-config',
      'energy_poll_interval=10',
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('energy_poll_interval takes whole seconds ≥ 60');
  });
});
