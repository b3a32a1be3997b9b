/**
 * Firmware updates of generation 1.3 against the real server process (PROTOCOL-1.3.md §8, §9):
 * a key set of its own made by the CLI, the same version added once per generation, one rollout
 * for both generations. The 1.3 device checks, initiates, fetches every chunk (no chunk HMAC),
 * decrypts them as one AES-256-CBC stream with the 1.3 key, verifies SHA-256 and the RSA-2048
 * signature with the 1.3 public key, reports progress, probes `GET /ota/status` after its
 * reboot and reports completion; an e84f720 device in the same rollout updates with its own
 * keys; outcomes reported by bare requests are marked and never halt a rollout.
 */

import { createDecipheriv, createHash, createPublicKey, verify } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIELD_KEYS } from '../../src/protocol/envelope-v1.js';
import type { DeviceFirmwareKeys } from '../../src/protocol/firmware/device-update.js';
import { deviceKeysFromDir } from '../../src/sim/ota-device-keys.js';
import { runOtaFleet } from '../../src/sim/ota-fleet.js';
import { ecowatt } from '../helpers/cli.js';
import { authenticatingUploads13, type DeviceAnswer, deviceRequest } from '../helpers/device-request.js';
import { type RunningServer, startServer, tempDataDir } from '../helpers/server-process.js';

let server: RunningServer;
let dataDir: string;
let keyDir: string;
let fieldKeys: DeviceFirmwareKeys;
let keys13: DeviceFirmwareKeys;
let rolloutId: number;

const DEVICE = 'ESP32_001';
const FIRMWARE_13 = image(5000, 13);

function image(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 131 + seed * 17) & 0xff;
  b[0] = 0xe9;
  return b;
}

const cli = (...args: string[]) => ecowatt(server, ...args);

/** A request as the 1.3 firmware makes it: JSON content type (even on a GET), no credentials. */
function device(
  method: string,
  route: string,
  body?: unknown,
  opts: { localAddress?: string; headers?: Record<string, string> } = {},
): Promise<DeviceAnswer> {
  return deviceRequest(server.url, method, route, body, {
    ...(opts.localAddress ? { from: opts.localAddress } : {}),
    ...(opts.headers ? { headers: opts.headers } : {}),
  });
}

/** A sealed 1.3 upload (`POST /aggregated/<id>`): it authenticates the device and its address. */
const upload13 = authenticatingUploads13(() => server.url);

async function register(id: string): Promise<void> {
  const r = await server.admin('POST', '/api/devices', { id });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
}

beforeAll(async () => {
  dataDir = tempDataDir();
  keyDir = path.join(dataDir, 'keys');
  const field = await cli('keys', 'generate', '--data-dir', dataDir);
  expect(field.code, field.stderr).toBe(0);
  const g13 = await cli('keys', 'generate', '--data-dir', dataDir, '--generation', '1.3');
  expect(g13.code, g13.stderr).toBe(0);
  expect(g13.stdout).toContain(path.join(keyDir, '1.3'));
  fieldKeys = deviceKeysFromDir(keyDir);
  keys13 = deviceKeysFromDir(keyDir, '1.3');
  // Unsigned control requests for generation 1.3 only (its firmware signs none), and only from the
  // address of the device's authenticated uploads; e84f720 devices here sign theirs.
  server = await startServer({ dataDir, env: { ECOWATT_UNSECURED_CONTROL: '1.3' } });
  await register(DEVICE);
  await register('field-0001');
});

afterAll(async () => {
  await server?.stop();
});

describe('one version, one image per generation', () => {
  it('adds 1.4.0 for 1.3 and for e84f720, lists both and rolls both out in one rollout', async () => {
    const file13 = path.join(dataDir, 'fw-1.4.0-gen13.bin');
    writeFileSync(file13, FIRMWARE_13);
    const added = await cli('firmware', 'add', file13, '--version', '1.4.0', '--generation', '1.3');
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout).firmware).toMatchObject({
      version: '1.4.0',
      generation: '1.3',
      original_size: 5000,
      total_chunks: 5,
      servable: true,
    });
    const fileField = path.join(dataDir, 'fw-1.4.0.bin');
    writeFileSync(fileField, image(3000, 4));
    const addedField = await cli('firmware', 'add', fileField, '--version', '1.4.0');
    expect(addedField.code, addedField.stderr).toBe(0);
    expect(JSON.parse(addedField.stdout).firmware.generation).toBe('e84f720');
    const again = await cli('firmware', 'add', file13, '--version', '1.4.0', '--generation', '1.3');
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/conflict/);

    const list = await cli('firmware', 'list');
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/keys e84f720: key set [0-9a-f]{16}/);
    expect(list.stdout).toMatch(/keys 1\.3: key set [0-9a-f]{16}/);
    expect(list.stdout).toMatch(/^1\.4\.0\te84f720\t3000\t/m);
    expect(list.stdout).toMatch(/^1\.4\.0\t1\.3\t5000\t5\t/m);

    const created = await cli('rollout', 'create', '--version', '1.4.0', '--devices', `${DEVICE},field-0001`);
    expect(created.code, created.stderr).toBe(0);
    const rollout = JSON.parse(created.stdout).rollout;
    expect(rollout.generations).toEqual(['e84f720', '1.3']);
    rolloutId = rollout.id;
  });
});

describe('a 1.3 device', () => {
  it('answers the boot probe with a bare 200 to anyone without the admin token', async () => {
    const asked: Record<string, string>[] = [{}, { authorization: 'Bearer wrong-token' }];
    for (const headers of asked) {
      const probe = await device('GET', '/ota/status', undefined, { headers });
      expect(probe.status).toBe(200);
      expect(probe.json).toEqual({});
    }
    const admin = await server.admin('GET', '/ota/status');
    expect(admin.status).toBe(200);
    expect(admin.json).toHaveProperty('sessions');
    expect(admin.json.available_versions).toEqual(['1.4.0']);
  });

  it('updates: check, initiate, every chunk decrypted with the 1.3 key, hash and signature, reports', async () => {
    // Its bare requests count only from where its authenticated uploads come from.
    const stranger = await device('GET', `/ota/check/${DEVICE}?version=1.3.4`, undefined, {
      localAddress: '127.0.0.2',
    });
    expect(stranger.status).toBe(403);
    expect(stranger.json.error).toBe('control_source_mismatch');
    await upload13(DEVICE);

    const check = await device('GET', `/ota/check/${DEVICE}?version=1.3.4`);
    expect(check.status, check.raw).toBe(200);
    // The firmware parses this into a 2048-byte ArduinoJson document.
    expect(Buffer.byteLength(check.raw)).toBeLessThan(1200);
    expect(check.json.update_available).toBe(true);
    const info = check.json.update_info;
    expect(info).toMatchObject({
      latest_version: '1.4.0',
      original_size: 5000,
      firmware_size: 5000,
      encrypted_size: 5008,
      chunk_size: 1024,
      total_chunks: 5,
    });
    expect(info.sha256_hash).toMatch(/^[0-9a-f]{64}$/);
    const iv = Buffer.from(info.iv, 'base64');
    expect(iv).toHaveLength(16);

    const initiate = await device('POST', `/ota/initiate/${DEVICE}`, { firmware_version: '1.4.0' });
    expect(initiate.status, initiate.raw).toBe(201);
    expect(initiate.json).toMatchObject({ success: true, session_id: expect.stringMatching(/^ota-\d+$/) });
    const downloading = await device('POST', `/ota/${DEVICE}/progress`, {
      phase: 'downloading',
      progress: 0,
      message: 'Starting firmware download...',
      timestamp: Math.floor(Date.now() / 1000),
    });
    expect(downloading.status).toBe(200);

    // One CBC stream cut into chunks: the IV of each chunk is the last block of the one before.
    const decipher = createDecipheriv('aes-256-cbc', keys13.aesKey, iv);
    const chunks: Buffer[] = [];
    const plain: Buffer[] = [];
    for (let k = 0; k < info.total_chunks; k++) {
      const r = await device('GET', `/ota/chunk/${DEVICE}?version=1.4.0&chunk=${k}`);
      expect(r.status, r.raw).toBe(200);
      expect(r.json.success).toBe(true);
      expect(r.json).not.toHaveProperty('hmac');
      const data = Buffer.from(r.json.chunk_data, 'base64');
      expect(data.toString('base64')).toBe(r.json.chunk_data);
      expect(r.json.chunk_size).toBe(data.length);
      chunks.push(data);
      plain.push(decipher.update(data));
      if (k === 0) expect(plain[0][0]).toBe(0xe9);
    }
    plain.push(decipher.final());
    const firmware = Buffer.concat(plain);
    expect(firmware.equals(FIRMWARE_13)).toBe(true);
    const sha = createHash('sha256').update(firmware).digest('hex');
    expect(sha).toBe(info.sha256_hash);
    const signature = Buffer.from(info.signature, 'base64');
    expect(signature).toHaveLength(256);
    // RSA-2048 PKCS#1 v1.5 over the SHA-256, with the 1.3 public key the firmware embeds.
    const pub13 = createPublicKey(readFileSync(path.join(keyDir, '1.3', 'signing-key.pub.pem')));
    expect(verify('sha256', firmware, pub13, signature)).toBe(true);
    // Not with the e84f720 key set: the generations do not share keys.
    expect(verify('sha256', firmware, fieldKeys.publicKey, signature)).toBe(false);
    const wrong = createDecipheriv('aes-256-cbc', fieldKeys.aesKey, iv).setAutoPadding(false);
    expect(wrong.update(chunks[0]).subarray(0, 16).equals(FIRMWARE_13.subarray(0, 16))).toBe(false);

    for (const phase of ['download_complete', 'verifying', 'verification_success', 'installing']) {
      const r = await device('POST', `/ota/${DEVICE}/progress`, {
        phase,
        progress: 100,
        message: phase,
        timestamp: Math.floor(Date.now() / 1000),
      });
      expect(r.status, r.raw).toBe(200);
    }
    let view = (await server.admin('GET', `/api/rollouts/${rolloutId}`)).json;
    expect(view.sessions.find((s: any) => s.device_id === DEVICE)).toMatchObject({
      generation: '1.3',
      client: 'later',
      state: 'verified',
      phase: 'installing',
      progress_percent: 100,
      chunks_served: 5,
    });

    // The reboot: the boot probe must answer 200 (and tell nothing), then the boot report.
    const probe = await device('GET', '/ota/status');
    expect(probe.status).toBe(200);
    expect(probe.json).toEqual({});
    const complete = await device('POST', `/ota/${DEVICE}/complete`, {
      version: '1.4.0',
      status: 'success',
      timestamp: Math.floor(Date.now() / 1000),
    });
    expect(complete.status, complete.raw).toBe(200);
    expect(complete.json).toMatchObject({ success: true, version: '1.4.0', status: 'success' });

    view = (await server.admin('GET', `/api/rollouts/${rolloutId}`)).json;
    expect(view.sessions.find((s: any) => s.device_id === DEVICE)).toMatchObject({
      state: 'succeeded',
      outcome_authenticated: false,
    });
    expect(view.rollout.unauthenticated).toMatchObject({ succeeded: 1, failed: 0 });
    expect(view.rollout.threshold).toMatchObject({ succeeded: 0, failed: 0 });

    // Every later boot reports again: nothing more to do, and no new offer.
    expect(
      (await device('POST', `/ota/${DEVICE}/complete`, { version: '1.4.0', status: 'success' })).status,
    ).toBe(200);
    const after = await device('GET', `/ota/check/${DEVICE}?version=1.4.0`);
    expect(after.json.update_available).toBe(false);
  });
});

describe('an e84f720 device in the same rollout', () => {
  it('updates with its own key set and chunk HMAC, and the rollout ends succeeded', async () => {
    const summary = await runOtaFleet({
      url: server.url,
      devices: 1,
      idPrefix: 'field',
      fromVersion: '1.0.3',
      keys: fieldKeys,
      checkIntervalMs: 100,
      timeoutMs: 10_000,
      // Signed: e84f720 bare control is off on this server; its outcome then counts.
      configure: () => ({ client: 'field', sign: { keys: FIELD_KEYS } }),
    });
    expect(summary.errors, JSON.stringify(summary.reports)).toBe(0);
    expect(summary.reports[0].result).toMatchObject({ kind: 'updated', to: '1.4.0', chunks: 3 });

    const shown = await cli('rollout', 'show', String(rolloutId));
    expect(shown.code, shown.stderr).toBe(0);
    const { rollout, sessions } = JSON.parse(shown.stdout);
    expect(rollout).toMatchObject({
      state: 'active',
      generations: ['e84f720', '1.3'],
      counts: { sessions: 2, succeeded: 2, failed: 0 },
      failure_rate: 0,
      threshold: { succeeded: 1, failed: 0 },
      unauthenticated: { succeeded: 1, failed: 0 },
    });
    const byId = new Map(sessions.map((s: any) => [s.device_id, s]));
    expect(byId.get('field-0001')).toMatchObject({
      generation: 'e84f720',
      client: 'field',
      state: 'succeeded',
      outcome_authenticated: true,
      total_chunks: 3,
    });
    expect(byId.get(DEVICE)).toMatchObject({ generation: '1.3', state: 'succeeded', total_chunks: 5 });
  });
});

describe('outcomes reported by bare requests', () => {
  it('are shown but never halt a rollout; a device whose generation has no image of the version is skipped', async () => {
    const ids = ['gen13-0001', 'gen13-0002', 'gen13-0003'];
    for (const id of ids) await register(id);
    expect(
      (
        await cli(
          'firmware',
          'add',
          path.join(dataDir, 'fw-1.4.0-gen13.bin'),
          '--version',
          '1.5.0',
          '--generation',
          '1.3',
        )
      ).code,
    ).toBe(0);
    const created = await server.admin('POST', '/api/rollouts', {
      version: '1.5.0',
      target: { kind: 'devices', devices: [...ids, 'field-0001'] },
      failure_threshold: 0.3,
      min_outcomes: 2,
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const id = created.json.rollout.id;
    expect(created.json.rollout.generations).toEqual(['1.3']);

    // The 1.3 procedure of the simulator: every device refuses the image (flipped signature).
    const failing = await runOtaFleet({
      url: server.url,
      devices: 3,
      idPrefix: 'gen13',
      fromVersion: '1.4.0',
      keys: keys13,
      upload: { keys: FIELD_KEYS },
      checkIntervalMs: 100,
      timeoutMs: 10_000,
      configure: () => ({ client: 'later', fault: { kind: 'bad-signature' } }),
    });
    expect(failing.errors, JSON.stringify(failing.reports)).toBe(0);
    expect(failing.failed).toBe(3);
    for (const r of failing.reports) {
      expect(r.result).toMatchObject({ kind: 'failed', failure: { reason: 'signature_invalid' } });
      expect(r.version).toBe('1.4.0');
    }
    const { json } = await server.admin('GET', `/api/rollouts/${id}`);
    expect(json.rollout.state).toBe('active');
    expect(json.rollout.counts).toMatchObject({ failed: 3 });
    expect(json.rollout.threshold).toMatchObject({ failed: 0, failure_rate: null });
    expect(json.rollout.unauthenticated).toMatchObject({ failed: 3, failure_rate: 1 });
    for (const s of json.sessions) {
      expect(s).toMatchObject({ generation: '1.3', state: 'failed', outcome_authenticated: false });
      expect(s.outcome).toMatch(/signature_invalid/);
    }

    // The e84f720 device has no image of 1.5.0: skipped with the reason, no session.
    const skipped = await runOtaFleet({
      url: server.url,
      devices: 1,
      idPrefix: 'field',
      fromVersion: '1.4.0',
      keys: fieldKeys,
      nonce: 20_000,
      checkIntervalMs: 100,
      timeoutMs: 500,
      configure: () => ({ client: 'field', sign: { keys: FIELD_KEYS, nonce: 20_000 } }),
    });
    expect(skipped.reports[0].result).toMatchObject({
      kind: 'none',
      message: expect.stringMatching(/1\.5\.0, which has no image for firmware generation e84f720/),
    });
    const sessions = (await server.admin('GET', `/api/rollouts/${id}`)).json.sessions as {
      device_id: string;
    }[];
    expect(sessions.map((s) => s.device_id).sort()).toEqual(ids);
  });
});
