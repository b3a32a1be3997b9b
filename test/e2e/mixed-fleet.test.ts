/**
 * One server, a fleet of both firmware generations (docs/field-devices.md "Two firmware generations"): every
 * upload stored with the values the devices read and published on MQTT, one fleet configuration
 * change and a command reach each generation, one rollout updates both (each device gets the image
 * of its own generation), and the abuse a field deployment sees is refused with its codes.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIELD_KEYS } from '../../src/protocol/envelope-v1.js';
import type { DeviceFirmwareKeys } from '../../src/protocol/firmware/device-update.js';
import { buildUpload13, compressSmart13, seal13, Temporal13State } from '../../src/protocol/gen13/index.js';
import { BATCH_LAYOUT } from '../../src/protocol/registers.js';
import { freshNvs13 } from '../../src/sim/gen13-config.js';
import { deviceKeysFromDir } from '../../src/sim/ota-device-keys.js';
import { type AcknowledgedUpload, runSimulation, type SimulationSummary } from '../../src/sim/simulator.js';
import { type DeviceAnswer, deviceRequest } from '../helpers/device-request.js';
import { eventually } from '../helpers/eventually.js';
import { expectedReadings, type Reading } from '../helpers/gen13-readings.js';
import {
  expectingAdmin,
  post,
  ROOT,
  type RunningServer,
  startServer,
  tempDataDir,
} from '../helpers/server-process.js';

const run = promisify(execFile);
const E84 = ['mix-0001', 'mix-0002'];
const G13 = ['mix-0003', 'mix-0004'];
const ALL = [...E84, ...G13];

let server: RunningServer;
let keysE84: DeviceFirmwareKeys;
let keys13: DeviceFirmwareKeys;
let mqtt: MqttClient;
const published: { topic: string; body: Record<string, unknown> }[] = [];
let summary: SimulationSummary;
const commands = new Map<string, string>();
let rolloutId: number;

const admin = expectingAdmin(() => server);

async function cli(...args: string[]) {
  const r = await run(process.execPath, [path.join(ROOT, 'bin/ecowatt.js'), ...args]);
  return r.stdout;
}

async function addImage(version: string, generation: string, seed: number) {
  const image = Buffer.alloc(5000);
  for (let i = 0; i < image.length; i++) image[i] = (i * seed + 11) & 0xff;
  image[0] = 0xe9;
  const res = await fetch(`${server.url}/api/firmware?version=${version}&generation=${generation}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/octet-stream' },
    body: image,
  });
  expect(res.status, await res.clone().text()).toBe(201);
}

/** A request from another loopback address than the devices' own. */
function fromElsewhere(method: string, route: string, body?: string): Promise<DeviceAnswer> {
  return deviceRequest(server.url, method, route, body, { from: '127.0.0.2' });
}

beforeAll(async () => {
  const dataDir = tempDataDir();
  await cli('keys', 'generate', '--data-dir', dataDir);
  await cli('keys', 'generate', '--data-dir', dataDir, '--generation', '1.3');
  keysE84 = deviceKeysFromDir(path.join(dataDir, 'keys'));
  keys13 = deviceKeysFromDir(path.join(dataDir, 'keys'), '1.3');
  // The development defaults: unsigned control requests from both generations, bound to the
  // address of each device's latest authenticated upload.
  server = await startServer({ dataDir });
  if (!server.mqttUrl) throw new Error('the embedded broker is off');
  mqtt = await connectAsync(server.mqttUrl, { clientId: `mixed-${process.pid}`, reconnectPeriod: 300 });
  mqtt.on('message', (topic, payload) => {
    try {
      published.push({ topic, body: JSON.parse(payload.toString('utf8')) as Record<string, unknown> });
    } catch {
      /* not JSON: not ours */
    }
  });
  await mqtt.subscribeAsync('ecowatt/+/readings', { qos: 1 });

  // Known beforehand, so the change, the commands and the rollout can wait for them.
  for (const id of ALL) await admin('POST', '/api/devices', { id }, 201);
  await admin('PUT', '/api/fleet/config', { sampling_interval: 2, upload_interval: 10, reason: 'faster' });
  for (const [i, id] of ALL.entries()) {
    const c = await admin(
      'POST',
      `/api/devices/${id}/commands`,
      { type: 'set_power_percentage', percentage: 41 + i },
      201,
    );
    commands.set(id, c.id);
  }
  await addImage('2.0.0', 'e84f720', 131);
  await addImage('2.0.0', '1.3', 137);
  const rollout = await admin('POST', '/api/rollouts', { version: '2.0.0', target: 'all' }, 201);
  rolloutId = rollout.rollout.id;

  // The 1.3 devices check for firmware every 10 s of their time (the firmware's default is 6000 s).
  const nvs = freshNvs13();
  nvs.otaUs = 10_000_000;
  summary = await runSimulation({
    url: server.url,
    devices: E84.length,
    idPrefix: 'mix',
    gen13: { devices: G13.length, firmwareKeys: keys13, nvs },
    // 15 s of device time per wall second.
    intervalSeconds: 1,
    durationSeconds: 25,
    encrypt: false,
    keepAcknowledged: true,
    changesIntervalSeconds: 0.3,
    commandsIntervalSeconds: 0.3,
    firmwareIntervalSeconds: 1,
    firmwareKeys: keysE84,
  });
}, 120_000);

afterAll(async () => {
  await mqtt?.endAsync();
  await server?.stop();
});

const acksOf = (id: string): AcknowledgedUpload[] => summary.acknowledged.filter((a) => a.deviceId === id);

async function readingsOf(id: string): Promise<Reading[]> {
  const page = await admin('GET', `/api/devices/${id}/readings?limit=10000`);
  expect(page.next).toBeNull();
  return page.readings as Reading[];
}

describe('a fleet of both generations on one server', () => {
  it('accepts every upload, records each generation, and stores the values the devices read', async () => {
    expect(summary.unexpectedExamples).toEqual([]);
    expect(summary.unexpected).toBe(0);
    expect(summary.rejected).toEqual({});
    expect(summary.accepted).toBe(summary.sent);
    for (const id of ALL) {
      const device = await admin('GET', `/api/devices/${id}`);
      expect(device.generation, id).toBe(G13.includes(id) ? '1.3' : 'e84f720');
      expect(acksOf(id).length, id).toBeGreaterThan(3);
    }
    // 1.3: every reading as decoded from the bytes sent, exact values equal to what was read.
    for (const id of G13) {
      const expected = expectedReadings(acksOf(id));
      const stored = await readingsOf(id);
      expect(stored.length, id).toBe(expected.size);
      for (const r of stored) {
        const want = expected.get(`${r.upload}/${r.packet}/${r.sample}/${r.reg_id}`);
        expect({ raw: r.raw, quality: r.quality, time: r.time }).toEqual({
          raw: want?.raw,
          quality: want?.quality,
          time: want?.time,
        });
      }
    }
    // e84f720: five samples of the batch layout per packet; every exact value is the one read.
    for (const id of E84) {
      const stored = await readingsOf(id);
      const byUpload = new Map(acksOf(id).map((a) => [a.uploadId, a]));
      let exact = 0;
      for (const r of stored) {
        const ack = byUpload.get(r.upload);
        expect(ack, `${id} upload ${r.upload} acknowledged`).toBeDefined();
        if (r.quality !== 'exact') continue;
        const read = ack?.values[r.packet][r.sample * BATCH_LAYOUT.length + BATCH_LAYOUT.indexOf(r.reg_id)];
        expect(r.raw, `${id} ${r.upload}/${r.packet}/${r.sample}/${r.reg_id}`).toBe(read);
        exact++;
      }
      expect(exact, id).toBeGreaterThan(0);
    }
  });

  it('publishes both generations on MQTT as stored', async () => {
    await eventually(async () => {
      for (const id of ALL) {
        const uploads = new Set(
          published.filter((m) => m.body.device_id === id).map((m) => String(m.body.upload_id)),
        );
        expect([...uploads].sort(), id).toEqual(
          acksOf(id)
            .map((a) => a.uploadId)
            .sort(),
        );
      }
    }, 10_000);
  });

  it('delivers one fleet configuration change to each generation through its own channel', async () => {
    expect(summary.control.requests.changes?.sent).toBeGreaterThan(0);
    expect(summary.control.requests.config?.sent).toBeGreaterThan(0);
    for (const id of ALL) {
      const config = await admin('GET', `/api/devices/${id}/config`);
      expect(config.generation, id).toBe(G13.includes(id) ? '1.3' : 'e84f720');
      expect(config.keys.sampling_interval.state, id).toBe('applied');
      expect(config.keys.upload_interval.state, id).toBe('applied');
    }
    // The 1.3 devices said so themselves.
    expect(summary.control.requests.config_ack?.outcomes).toEqual({ '200': G13.length });
  });

  it('runs a command on each generation, its result recorded and its effect in the readings', async () => {
    expect(summary.control.commands).toEqual({ succeeded: ALL.length, failed: 0 });
    for (const [i, id] of ALL.entries()) {
      const stored = await admin('GET', `/api/devices/${id}/commands/${commands.get(id)}`);
      expect(stored.status, id).toBe('succeeded');
      const pow = (await admin('GET', `/api/devices/${id}/readings?register=Pow&limit=10000`))
        .readings as Reading[];
      if (G13.includes(id)) expect(pow.at(-1)?.raw, id).toBe(41 + i);
    }
  });

  it('updates both generations in one rollout, each with the image of its own generation', async () => {
    expect(summary.control.firmware).toEqual({ updated: ALL.length, refused: 0, errors: 0 });
    const { sessions } = await admin('GET', `/api/rollouts/${rolloutId}`);
    const byDevice = new Map(
      (sessions as { device_id: string; state: string; generation: string }[]).map((s) => [s.device_id, s]),
    );
    for (const id of ALL) {
      expect(byDevice.get(id)?.state, id).toBe('succeeded');
      expect(byDevice.get(id)?.generation, id).toBe(G13.includes(id) ? '1.3' : 'e84f720');
    }
  });

  it('refuses replays, forged MACs, control requests from elsewhere and out-of-range configuration', async () => {
    // A captured upload of each generation, replayed.
    const e84 = acksOf(E84[0]).at(-1);
    expect(e84).toBeDefined();
    const id13 = G13[0];
    const last13 = acksOf(id13).at(-1)?.nonce ?? 0;
    const layout = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    const body13 = (nonce: number) =>
      seal13(
        buildUpload13({
          deviceId: id13,
          timestamp: Math.floor(Date.now() / 1000),
          samplingInterval: 5,
          packets: [
            {
              bytes: compressSmart13(
                layout,
                [2400, 170, 5000, 3100, 3000, 70, 70, 600, 100, 4300],
                new Temporal13State(),
              ),
              registerLayout: layout,
              sampleCount: 1,
              lastSampleMs: Date.now(),
            },
          ],
        }),
        nonce,
        FIELD_KEYS.hmacKey,
      );
    const aggregated = (body: string) =>
      fetch(`${server.url}/aggregated/${id13}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      }).then(async (r) => ({ status: r.status, json: (await r.json()) as any }));
    const replay13 = await aggregated(body13(last13));
    expect(replay13.status).toBe(401);
    expect(replay13.json.error).toBe('replayed_nonce');
    const forged = JSON.parse(body13(last13 + 100));
    forged.payload = Buffer.from(
      Buffer.from(forged.payload, 'base64').toString().replace('"timestamp":', '"timestamp":1'),
    ).toString('base64');
    const forgedAnswer = await aggregated(JSON.stringify(forged));
    expect(forgedAnswer.status).toBe(401);
    expect(forgedAnswer.json.error).toBe('authentication_failed');

    const sealedE84 = JSON.stringify({ nonce: e84?.nonce, payload: 'e30=', mac: '0'.repeat(64) });
    const forgedE84 = await post(server.url, sealedE84);
    expect(forgedE84.status).toBe(401);
    expect(forgedE84.json.error).toBe('authentication_failed');

    // Control requests from an address the devices never uploaded from.
    const config13 = await fromElsewhere('GET', `/config/${id13}`);
    expect(config13.status).toBe(403);
    expect(config13.json.error).toBe('control_source_mismatch');
    const changes = await fromElsewhere(
      'POST',
      '/changes',
      JSON.stringify({ device_id: E84[0], timestamp: 5 }),
    );
    expect(changes.status).toBe(403);
    expect(changes.json.error).toBe('control_source_mismatch');

    // Out of range: never stored, never offered.
    for (const bad of [{ upload_interval: 0 }, { sampling_interval: -5 }]) {
      const res = await server.admin('PUT', `/api/devices/${id13}/config`, bad);
      expect(res.status).toBe(400);
      expect(res.json.error).toBe('invalid_parameter');
    }
    await eventually(async () => {
      const events = await admin('GET', '/api/security-events?code=control_source_mismatch&limit=100');
      expect(new Set(events.events.map((e: { device_id: string }) => e.device_id))).toEqual(
        new Set([id13, E84[0]]),
      );
    });
  });
});
