/**
 * Secure firmware updates against the real server process: keys made by the CLI, images added
 * through the CLI and the streamed admin upload, a staged rollout that 20 simulated devices go
 * through concurrently (e84f720 and 1.3 firmware, bare and sealed requests) with a corrupted
 * chunk, a bad signature and an interrupted download, the server killed and restarted in the
 * middle, and a second rollout that halts at its failure threshold.
 */

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIELD_KEYS } from '../../src/protocol/envelope-v1.js';
import type { DeviceFirmwareKeys } from '../../src/protocol/firmware/device-update.js';
import { deviceKeysFromDir } from '../../src/sim/ota-device-keys.js';
import { runOtaFleet } from '../../src/sim/ota-fleet.js';
import { ecowatt } from '../helpers/cli.js';
import { type RunningServer, startServer, tempDataDir } from '../helpers/server-process.js';

let server: RunningServer;
let dataDir: string;
let keys: DeviceFirmwareKeys;
/** The 1.3 set: the 'later' devices are generation 1.3 (their own AES and public key, no chunk key). */
let keys13: DeviceFirmwareKeys;
/** Bare requests count only from the address of the device's latest authenticated upload. */
const announce = { keys: FIELD_KEYS };

const cli = (...args: string[]) => ecowatt(server, ...args);

function image(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 131 + seed * 17) & 0xff;
  b[0] = 0xe9;
  return b;
}

async function upload(version: string, body: Buffer, query = ''): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.url}/api/firmware?version=${encodeURIComponent(version)}${query}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/octet-stream' },
    body,
  });
  return { status: res.status, json: await res.json() };
}

async function upload13(version: string, body: Buffer): Promise<{ status: number; json: any }> {
  return upload(version, body, '&generation=1.3');
}

async function fieldCheck(deviceId: string, current: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.url}/ota/check`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ device_id: deviceId, current_version: current }),
  });
  return { status: res.status, json: await res.json() };
}

async function register(ids: string[], body: Record<string, unknown> = { allow_unsecured_config: true }) {
  for (const id of ids) {
    const r = await server.admin('POST', '/api/devices', { id, ...body });
    expect(r.status, JSON.stringify(r.json)).toBe(201);
  }
}

const ids = (prefix: string, from: number, n: number) =>
  Array.from({ length: n }, (_, i) => `${prefix}-${String(from + i).padStart(4, '0')}`);

beforeAll(async () => {
  dataDir = tempDataDir();
  const made = await cli('keys', 'generate', '--data-dir', dataDir);
  expect(made.code, made.stderr).toBe(0);
  const made13 = await cli('keys', 'generate', '--data-dir', dataDir, '--generation', '1.3');
  expect(made13.code, made13.stderr).toBe(0);
  keys = deviceKeysFromDir(path.join(dataDir, 'keys'));
  keys13 = deviceKeysFromDir(path.join(dataDir, 'keys'), '1.3');
  server = await startServer({ dataDir, env: { ECOWATT_UNSECURED_CONTROL: 'off' } });
  await register([...ids('sim-ota', 1, 20), ...ids('halt', 1, 10)]);
});

afterAll(async () => {
  await server?.stop();
});

describe('firmware catalogue', () => {
  it('adds images through the CLI and the streamed upload, refusing what devices would refuse', async () => {
    const file = path.join(dataDir, 'fw-1.0.4.bin');
    writeFileSync(file, image(4000, 4));
    const added = await cli('firmware', 'add', file, '--version', '1.0.4', '--notes', 'first field build');
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout).firmware).toMatchObject({
      version: '1.0.4',
      total_chunks: 4,
      servable: true,
    });

    expect((await upload('1.0.5', image(20_000, 5))).status).toBe(201);
    expect((await upload('1.0.6', image(3000, 6))).status).toBe(201);
    const notEsp = image(100, 7);
    notEsp[0] = 0x7f;
    expect((await upload('1.0.7', notEsp)).json.error).toBe('invalid_firmware');
    expect((await upload('1.0.5', image(10, 5))).json.error).toBe('conflict');
    expect((await upload('1.0.9', Buffer.alloc(5 * 1024 * 1024, 0xe9))).json.error).toBe('payload_too_large');

    const list = await cli('firmware', 'list', '--json');
    const versions = JSON.parse(list.stdout).firmware.map((f: { version: string }) => f.version);
    expect(versions).toEqual(['1.0.6', '1.0.5', '1.0.4']);
  });

  it('answers only devices whose policy allows bare requests, and only with a token for the status view', async () => {
    await register(['strict-0001'], {});
    expect((await fieldCheck('strict-0001', '1.0.3')).json.error).toBe('unsecured_not_allowed');
    // Without the token: the 1.3 boot probe, a bare 200 that tells nothing.
    const probe = await fetch(`${server.url}/ota/status`);
    expect(probe.status).toBe(200);
    expect(await probe.json()).toEqual({});
  });
});

describe('a staged rollout through 20 devices', () => {
  it('updates them concurrently, catches faults where they are, and survives a server restart', async () => {
    // The same version for the 1.3 devices, prepared under their keys.
    expect((await upload13('1.0.5', image(20_000, 5))).status).toBe(201);
    const created = await server.admin('POST', '/api/rollouts', {
      version: '1.0.5',
      target: { kind: 'percentage', steps: [30, 60, 100], step_wait_seconds: 0.3 },
      failure_threshold: 0.5,
      min_outcomes: 10,
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const rolloutId = created.json.rollout.id;

    const corrupt = 'sim-ota-0005';
    const badSignature = 'sim-ota-0010';
    const interrupted = 'sim-ota-0014';
    let restartedFor: string | undefined;
    let persistedAtRestart: any;

    const summary = await runOtaFleet({
      url: server.url,
      devices: 20,
      idPrefix: 'sim-ota',
      fromVersion: '1.0.3',
      keys,
      upload: announce,
      checkIntervalMs: 150,
      timeoutMs: 40_000,
      retryForMs: 20_000,
      configure: (i, id) => ({
        client: i % 4 === 3 ? 'later' : 'field',
        ...(i % 4 === 3 ? { keys: keys13 } : {}),
        ...(i % 3 === 1 ? { sign: { keys: FIELD_KEYS } } : {}),
        ...(id === corrupt ? { fault: { kind: 'corrupt-chunk', chunk: 7 } } : {}),
        ...(id === badSignature ? { fault: { kind: 'bad-signature' } } : {}),
        ...(id === interrupted ? { fault: { kind: 'interrupt', chunk: 5, pauseMs: 300 } } : {}),
      }),
      beforeChunk: async (id, chunk) => {
        if (restartedFor !== undefined || chunk !== 10 || [corrupt, badSignature, interrupted].includes(id))
          return;
        restartedFor = id;
        // No clean shutdown: progress must already be durable.
        await server.kill();
        server = await startServer({ dataDir, port: server.port, env: { ECOWATT_UNSECURED_CONTROL: 'off' } });
        const after = await server.admin('GET', `/api/rollouts/${rolloutId}`);
        persistedAtRestart = after.json.sessions.find((s: { device_id: string }) => s.device_id === id);
      },
    });

    const byId = new Map(summary.reports.map((r) => [r.id, r]));
    expect(summary.errors, JSON.stringify(summary.reports.filter((r) => r.result.kind === 'error'))).toBe(0);
    expect(summary.updated).toBe(18);
    expect(summary.failed).toBe(2);

    // The corrupted chunk is refused at that chunk, before decryption; nothing is committed.
    expect(byId.get(corrupt)?.result).toMatchObject({
      kind: 'failed',
      failure: { stage: 'chunk', chunk: 7, reason: 'hmac_mismatch' },
    });
    expect(byId.get(corrupt)?.version).toBe('1.0.3');
    // The bad signature is caught after download, before commit: the device still runs 1.0.3.
    expect(byId.get(badSignature)?.result).toMatchObject({
      kind: 'failed',
      failure: { stage: 'signature', reason: 'signature_invalid' },
    });
    expect(byId.get(badSignature)?.version).toBe('1.0.3');
    // The interrupted download resumed where it stopped.
    expect(byId.get(interrupted)?.result).toMatchObject({ kind: 'updated', to: '1.0.5', resumedAt: 6 });

    // The restart lost nothing: the session stood at chunk 10 and the device went on from there.
    expect(restartedFor).toBeDefined();
    expect(persistedAtRestart).toMatchObject({ state: 'downloading', next_chunk: 10, chunks_served: 10 });
    expect(byId.get(restartedFor as string)?.result).toMatchObject({ kind: 'updated', to: '1.0.5' });

    const { json } = await server.admin('GET', `/api/rollouts/${rolloutId}`);
    expect(json.rollout).toMatchObject({ state: 'active', step: { index: 2, percent: 100 } });
    expect(json.rollout.counts).toMatchObject({ sessions: 20, succeeded: 18, failed: 2 });
    expect(json.rollout.failure_rate).toBe(0.1);
    const sessions = json.sessions as any[];
    const firstStep = sessions.filter((s) => s.rollout_step === 0).length;
    expect(firstStep).toBeGreaterThan(0);
    expect(firstStep).toBeLessThan(20);
    expect(sessions.find((s) => s.device_id === restartedFor)).toMatchObject({
      state: 'succeeded',
      restarts: 0,
      next_chunk: 20,
      progress_percent: 100,
    });
    expect(sessions.find((s) => s.device_id === corrupt)).toMatchObject({ state: 'failed' });
    expect(sessions.find((s) => s.device_id === corrupt).outcome).toContain('chunk 7: hmac_mismatch');
    expect(sessions.find((s) => s.device_id === badSignature).outcome).toContain('signature_invalid');
    expect(new Set(sessions.map((s) => s.client))).toEqual(new Set(['field', 'later']));

    const status = await server.admin('GET', '/ota/status');
    expect(status.json.sessions[interrupted]).toMatchObject({ state: 'succeeded', version: '1.0.5' });
    expect(status.json.available_versions).toEqual(['1.0.6', '1.0.5', '1.0.4']);

    // Updated devices are offered nothing more; a downgrade only when a rollout pins it.
    expect((await fieldCheck('sim-ota-0001', '1.0.5')).json).toMatchObject({ update_available: false });
    const older = await cli('rollout', 'create', '--version', '1.0.4', '--devices', 'sim-ota-0001');
    expect(older.code, older.stderr).toBe(0);
    expect((await fieldCheck('sim-ota-0001', '1.0.5')).json.message).toMatch(/not pinned/);
    await cli('rollout', 'abort', String(JSON.parse(older.stdout).rollout.id));
    const pinned = await cli('rollout', 'create', '--version', '1.0.4', '--devices', 'sim-ota-0001', '--pin');
    expect(pinned.code, pinned.stderr).toBe(0);
    expect((await fieldCheck('sim-ota-0001', '1.0.5')).json).toMatchObject({
      update_available: true,
      version: '1.0.4',
    });
    await cli('rollout', 'abort', String(JSON.parse(pinned.stdout).rollout.id));
  });
});

describe('the failure threshold', () => {
  it('halts the rollout; devices not started get nothing until it is resumed', async () => {
    const created = await cli(
      'rollout',
      'create',
      '--version',
      '1.0.6',
      '--devices',
      ids('halt', 1, 10).join(','),
      '--failure-threshold',
      '0.3',
      '--min-outcomes',
      '3',
    );
    expect(created.code, created.stderr).toBe(0);
    const id = JSON.parse(created.stdout).rollout.id;

    const failing = await runOtaFleet({
      url: server.url,
      devices: 5,
      idPrefix: 'halt',
      fromVersion: '1.0.3',
      keys,
      checkIntervalMs: 100,
      timeoutMs: 10_000,
      // Signed reports: outcomes reported bare never count toward the threshold.
      configure: () => ({ sign: { keys: FIELD_KEYS }, fault: { kind: 'corrupt-chunk', chunk: 1 } }),
    });
    // The third failure halts it: devices that had not begun by then are not offered it.
    const refused = failing.reports.filter((r) => r.result.kind === 'failed').map((r) => r.id);
    expect(refused.length).toBeGreaterThanOrEqual(3);
    expect(failing.failed + failing.waiting).toBe(5);

    const { json } = await server.admin('GET', `/api/rollouts/${id}`);
    expect(json.rollout.state).toBe('halted');
    expect(json.rollout.state_reason).toMatch(/failure rate .* passed the threshold of 30\.0 %/);

    const later = await runOtaFleet({
      url: server.url,
      devices: 5,
      idPrefix: 'halt',
      firstIndex: 6,
      fromVersion: '1.0.3',
      keys,
      upload: announce,
      checkIntervalMs: 200,
      timeoutMs: 1000,
    });
    expect(later.updated).toBe(0);
    for (const r of later.reports)
      expect(r.result).toMatchObject({ kind: 'none', message: expect.stringMatching(/halted/) });
    const sessions = (await server.admin('GET', `/api/rollouts/${id}`)).json.sessions as {
      device_id: string;
    }[];
    expect(sessions.map((s) => s.device_id).sort()).toEqual(refused.sort());

    const audit = await server.admin('GET', '/api/audit?limit=50');
    expect(audit.json.entries.some((e: { action: string }) => e.action === 'rollout.halted')).toBe(true);

    const listed = await cli('rollout', 'list');
    expect(listed.stdout).toMatch(new RegExp(`${id}\\t1\\.0\\.6\\thalted`));
    expect((await cli('rollout', 'resume', String(id), '--reason', 'bad transit fixed')).code).toBe(0);
    const resumed = await runOtaFleet({
      url: server.url,
      devices: 5,
      idPrefix: 'halt',
      firstIndex: 6,
      fromVersion: '1.0.3',
      keys,
      upload: announce,
      // The same devices again: their counter goes on above the run before.
      nonce: 20_000,
      checkIntervalMs: 100,
      timeoutMs: 10_000,
    });
    expect(resumed.updated).toBe(5);
  });
});
