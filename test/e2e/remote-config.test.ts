import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ecowatt } from '../helpers/cli.js';
import { EmulatedFieldDevice } from '../helpers/emulated-field-device.js';
import { eventually } from '../helpers/eventually.js';
import { post, type RunningServer, startServer } from '../helpers/server-process.js';
import { fixture, sealed, typicalBatch, uploadJson } from '../helpers/uploads.js';

let server: RunningServer;

beforeAll(async () => {
  // Bare control requests only where a device's own policy allows them (the generation-wide
  // setting has tests of its own).
  server = await startServer({ env: { ECOWATT_UNSECURED_CONTROL: 'off' } });
});
afterAll(async () => {
  await server?.stop();
});

const NO_CHANGE = fixture<{ id: string; response_body: unknown }[]>('changes.json').find(
  (v) => v.id === 'no-change',
)?.response_body;

const cli = (...args: string[]) => ecowatt(server, ...args);

async function addDevice(id: string, policy: Record<string, unknown> = { allow_unsecured_config: true }) {
  const res = await server.admin('POST', '/api/devices', { id, ...policy });
  expect(res.status, JSON.stringify(res.json)).toBe(201);
}

async function ask(
  body: unknown,
  route = '/changes',
): Promise<{ status: number; json: any; headers: Headers; raw: string }> {
  const res = await fetch(`${server.url}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const raw = await res.text();
  return { status: res.status, json: JSON.parse(raw), headers: res.headers, raw };
}

const askAs = (id: string, route?: string) => ask({ device_id: id, timestamp: 123_456 }, route);

async function upload(body: string): Promise<void> {
  const res = await post(server.url, body);
  expect(res.status, JSON.stringify(res.json)).toBe(200);
}

describe('remote configuration', () => {
  it("answers each device from its own pending change; one device asking does not consume another's", async () => {
    await addDevice('cfg-a');
    await addDevice('cfg-b');
    await addDevice('cfg-idle');
    expect(
      (
        await server.admin('PUT', '/api/devices/cfg-a/config', {
          sampling_interval: 5,
          upload_interval: 30,
          reason: 'slower',
        })
      ).status,
    ).toBe(200);
    expect(
      (await server.admin('PUT', '/api/devices/cfg-b/config', { sampling_interval: 3, upload_interval: 15 }))
        .status,
    ).toBe(200);

    const a1 = await askAs('cfg-a');
    expect(a1.status).toBe(200);
    expect(a1.raw).toBe(
      '{"Changed":true,"pollFreqChanged":true,"newPollTimer":5,"uploadFreqChanged":true,"newUploadTimer":30,"regsChanged":false,"regsCount":0,"regs":""}',
    );
    expect(a1.headers.get('connection')).toBe('close');
    expect(a1.headers.get('content-length')).toBe(String(Buffer.byteLength(a1.raw)));
    expect((await askAs('cfg-a')).json).toEqual(a1.json);

    const b = await askAs('cfg-b', '/device_settings');
    expect(b.json).toMatchObject({ Changed: true, newPollTimer: 3, newUploadTimer: 15 });
    expect((await askAs('cfg-idle')).json).toEqual(NO_CHANGE);

    const a = await server.admin('GET', '/api/devices/cfg-a/config');
    expect(a.json).toMatchObject({
      state: 'delivered',
      version: 1,
      desired: { sampling_interval: 5, upload_interval: 30 },
    });
    expect(a.json.keys.upload_interval).toMatchObject({ state: 'delivered', offers: 2, source: 'device' });
    expect((await server.admin('GET', '/api/devices/cfg-b/config')).json.keys.upload_interval.offers).toBe(1);
  });

  it('refuses a /changes request without device_id and timestamp', async () => {
    expect((await ask({ device_id: 'cfg-a' })).status).toBe(400);
    expect((await ask({ timestamp: 5 })).status).toBe(400);
    const empty = await fetch(`${server.url}/changes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    expect(empty.status).toBe(400);
  });

  it('re-offers a change until the device is seen running it, then answers Changed:false', async () => {
    const device = new EmulatedFieldDevice('cfg-run');
    await addDevice('cfg-run');
    await upload(device.nextUpload());
    await upload(device.nextUpload());
    await upload(device.nextUpload());
    const before = await server.admin('GET', '/api/devices/cfg-run/config');
    expect(before.json.running.upload_interval).toMatchObject({ value: 15, basis: 'upload cadence' });
    expect(before.json.running.sampling_interval).toMatchObject({ value: 2, basis: 'packet timestamps' });

    await server.admin('PUT', '/api/devices/cfg-run/config', { sampling_interval: 5, upload_interval: 30 });
    const answers: boolean[] = [];
    for (let i = 0; i < 8; i++) {
      const answer = await askAs('cfg-run');
      answers.push(answer.json.Changed);
      if (!answer.json.Changed) break;
      device.receiveChanges(answer.json);
      await upload(device.nextUpload());
    }
    // Delivered, re-offered while the device had not been seen running it, then quiet.
    expect(answers.length).toBeGreaterThanOrEqual(3);
    expect(answers.slice(0, -1).every((c) => c)).toBe(true);
    expect(answers[answers.length - 1]).toBe(false);
    expect(device.uploadSeconds).toBe(30);

    const after = await server.admin('GET', '/api/devices/cfg-run/config');
    expect(after.json.state).toBe('applied');
    expect(after.json.keys.upload_interval).toMatchObject({ state: 'applied', running: 30 });
    expect(after.json.keys.sampling_interval).toMatchObject({ state: 'applied', running: 5 });
    expect((await askAs('cfg-run')).json).toEqual(NO_CHANGE);
  });

  it('shows a register selection as not supported by the field firmware, and sends it once', async () => {
    await addDevice('cfg-regs');
    await server.admin('PUT', '/api/devices/cfg-regs/config', { registers: ['VAC1', 'iac1', 'REG_PAC'] });
    const first = await askAs('cfg-regs');
    expect(first.json).toMatchObject({
      Changed: true,
      regsChanged: true,
      regsCount: 3,
      regs: ['Vac1', 'Iac1', 'Pac'],
    });
    expect((await askAs('cfg-regs')).json).toEqual(NO_CHANGE);
    const view = await server.admin('GET', '/api/devices/cfg-regs/config');
    expect(view.json.keys.registers).toMatchObject({ state: 'unsupported', offers: 1 });
    expect(view.json.keys.registers.note).toMatch(/never uses it/);
    expect(view.json.state).toBe('unsupported');
  });

  it('refuses /changes sealed with the fleet key from a device that has keys of its own', async () => {
    const device = new EmulatedFieldDevice('cfg-own-key');
    await addDevice('cfg-own-key', {});
    expect((await server.admin('POST', '/api/devices/cfg-own-key/keys', { reason: 'test' })).status).toBe(
      201,
    );
    const refused = await ask(device.sealed({ timestamp: 5000 }));
    expect(refused.status).toBe(401);
    expect(refused.json.error).toBe('authentication_failed');
    await eventually(async () => {
      const { json } = await server.admin('GET', '/api/security-events?device=cfg-own-key');
      expect(json.events.map((e: { reason: string }) => e.reason)).toContain('fleet_key_not_allowed');
    });
  });

  it('authenticates /changes like an upload: the envelope advances the same nonce sequence', async () => {
    const device = new EmulatedFieldDevice('cfg-sec');
    await addDevice('cfg-sec', {});
    await upload(device.nextUpload()); // nonce 10001
    const body = device.sealed({ timestamp: 5000 }); // nonce 10002
    const first = await ask(body);
    expect(first.status).toBe(200);
    expect(first.json).toEqual(NO_CHANGE);
    const replay = await ask(body);
    expect(replay.status).toBe(401);
    expect(replay.json.error).toBe('replayed_nonce');
    // The nonce is used up for uploads too.
    const reused = await post(server.url, sealed('cfg-sec', 10002));
    expect(reused.json.error).toBe('replayed_nonce');
    expect((await server.admin('GET', '/api/devices/cfg-sec')).json.replay_high).toBe(10002);
    const forged = await ask({ ...JSON.parse(body), nonce: 10_050, mac: '0'.repeat(64) });
    expect(forged.status).toBe(401);
    expect(forged.json.error).toBe('authentication_failed');

    const unsigned = await askAs('cfg-sec');
    expect(unsigned.status).toBe(403);
    expect(unsigned.json.error).toBe('unsecured_not_allowed');
    expect(unsigned.headers.get('connection')).toBe('close');

    const allowed = await cli('device', 'policy', 'cfg-sec', '--allow-unsecured-config', 'true');
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(JSON.parse(allowed.stdout).policy).toMatchObject({
      allow_unsecured_config: true,
      allow_unsecured: false,
    });
    expect((await askAs('cfg-sec')).status).toBe(200);
    // Unsigned configuration requests do not open bare uploads.
    const bare = await post(server.url, uploadJson('cfg-sec', [typicalBatch()]));
    expect(bare.status).toBe(403);
    expect(bare.json.error).toBe('unsecured_not_allowed');
    // An unknown device learns nothing from a bare request.
    expect((await askAs('cfg-nobody')).status).toBe(403);
  });

  it('rejects invalid configuration naming every bad field, and stores nothing', async () => {
    await addDevice('cfg-bad');
    const bad = await server.admin('PUT', '/api/devices/cfg-bad/config', {
      sampling_interval: 0,
      upload_interval: 2.5,
      registers: ['Nope'],
      power_management: 'yes',
      colour: 'blue',
      command_poll_interval: 10,
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toBe('invalid_parameter');
    expect(Object.keys(bad.json.details.fields).sort()).toEqual(
      ['colour', 'power_management', 'registers', 'sampling_interval', 'upload_interval'].sort(),
    );
    const stall = await server.admin('PUT', '/api/devices/cfg-bad/config', {
      sampling_interval: 2,
      upload_interval: 40,
    });
    expect(stall.status).toBe(400);
    expect(stall.json.details.fields.upload_interval).toMatch(/2048-byte/);
    expect((await server.admin('PUT', '/api/devices/cfg-bad/config', {})).status).toBe(400);
    expect((await server.admin('PUT', '/api/fleet/config', { upload_interval: 0.5 })).status).toBe(400);
    expect((await server.admin('PUT', '/api/devices/nobody/config', { upload_interval: 10 })).status).toBe(
      404,
    );

    const view = await server.admin('GET', '/api/devices/cfg-bad/config');
    expect(view.json).toMatchObject({ version: 0, desired: {}, overrides: {} });
    expect((await server.admin('GET', '/api/devices/cfg-bad/config/history')).json.versions).toEqual([]);
    expect((await server.admin('GET', '/api/fleet/config')).json).toMatchObject({ version: 0, config: {} });
    expect((await askAs('cfg-bad')).json).toEqual(NO_CHANGE);
  });

  it('withdraws a pending change by pinning the device to what it runs', async () => {
    const device = new EmulatedFieldDevice('cfg-w');
    await addDevice('cfg-w');
    for (let i = 0; i < 3; i++) await upload(device.nextUpload());
    // Not answered yet: withdrawing leaves the device as it is.
    await server.admin('PUT', '/api/devices/cfg-w/config', { upload_interval: 10, reason: 'try faster' });
    const early = await server.admin('POST', '/api/devices/cfg-w/config/withdraw', { reason: 'wrong site' });
    expect(early.status).toBe(200);
    expect(early.json).toMatchObject({ state: 'applied', overrides: { upload_interval: 15 } });
    expect((await askAs('cfg-w')).json).toEqual(NO_CHANGE);
    expect((await server.admin('POST', '/api/devices/cfg-w/config/withdraw', {})).status).toBe(409);

    // Answered already: the device may switch after its next upload, so the old value goes out.
    await server.admin('PUT', '/api/devices/cfg-w/config', { upload_interval: 10, reason: 'again' });
    expect((await askAs('cfg-w')).json).toMatchObject({ Changed: true, newUploadTimer: 10 });
    const late = await server.admin('POST', '/api/devices/cfg-w/config/withdraw', { reason: 'no' });
    expect(late.json).toMatchObject({ state: 'pending', overrides: { upload_interval: 15 } });
    expect((await askAs('cfg-w')).json).toMatchObject({ Changed: true, newUploadTimer: 15 });

    const history = await server.admin('GET', '/api/devices/cfg-w/config/history');
    expect(
      history.json.versions.map((v: { source: string; reason: string }) => [v.source, v.reason]),
    ).toEqual([
      ['withdraw', 'no'],
      ['api', 'again'],
      ['withdraw', 'wrong site'],
      ['api', 'try faster'],
    ]);
    const audit = await server.admin('GET', '/api/audit?device=cfg-w');
    expect(audit.json.entries.map((e: { action: string }) => e.action).slice(0, 2)).toEqual([
      'config.withdrawn',
      'config.changed',
    ]);
  });

  it('fleet defaults are inherited and overridden per device, versioned, and checked against overrides (CLI)', async () => {
    await addDevice('cfg-f1');
    await addDevice('cfg-f2');
    const set = await cli(
      'config',
      'set',
      '--fleet',
      'sampling_interval=4',
      'upload_interval=20',
      '--reason',
      'summer',
    );
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ config: { sampling_interval: 4, upload_interval: 20 } });

    const own = await cli('config', 'set', 'cfg-f2', 'sampling_interval=2', '--reason', 'noisy site');
    expect(own.code, own.stderr).toBe(0);
    const f1 = await server.admin('GET', '/api/devices/cfg-f1/config');
    expect(f1.json.keys.upload_interval).toMatchObject({ desired: 20, source: 'fleet' });
    expect((await askAs('cfg-f1')).json).toMatchObject({ newPollTimer: 4, newUploadTimer: 20 });
    expect((await askAs('cfg-f2')).json).toMatchObject({ newPollTimer: 2, newUploadTimer: 20 });

    // 40 s is safe with the fleet's 4 s sampling, but not for cfg-f2's own 2 s.
    const unsafe = await server.admin('PUT', '/api/fleet/config', { upload_interval: 40 });
    expect(unsafe.status).toBe(400);
    expect(Object.keys(unsafe.json.details.devices)).toEqual(['cfg-f2']);
    const bad = await cli('config', 'set', 'cfg-f2', 'sampling_interval=0.5');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/invalid_parameter.*sampling_interval/);

    const shown = await cli('config', 'show', 'cfg-f2');
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/sampling_interval\t2\tdevice\tdelivered/);
    const history = await cli('config', 'history', 'cfg-f2');
    expect(history.stdout).toMatch(/^v\d+\t.*token\/api\tcfg-f2\tsampling_interval=2 \(noisy site\)/m);
    expect(history.stdout).toMatch(/fleet\tsampling_interval=4 upload_interval=20 \(summer\)/);

    const inherit = await cli('config', 'set', 'cfg-f2', 'sampling_interval=inherit');
    expect(inherit.code, inherit.stderr).toBe(0);
    expect(JSON.parse(inherit.stdout).overrides).toEqual({});
  });
});
