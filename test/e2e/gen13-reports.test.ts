import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ecowatt } from '../helpers/cli.js';
import { post, type RunningServer, startServer } from '../helpers/server-process.js';
import { sealed } from '../helpers/uploads.js';

async function send(server: RunningServer, route: string, body: unknown) {
  const res = await fetch(`${server.url}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as any };
}

/** An authenticated upload: the device exists, and its address may make bare 1.3 requests. */
async function upload(server: RunningServer, id: string, nonce = 10001) {
  const res = await post(server.url, sealed(id, nonce));
  expect(res.status, JSON.stringify(res.json)).toBe(200);
}

const registration = (id: string, name = 'Roof inverter') => ({
  device_id: id,
  device_name: name,
  firmware_version: '1.3.4',
  location: 'Lab 2',
  description: 'EcoWatt field unit',
});

const energy = (id: string, saved = 12.5) => ({
  device_id: id,
  timestamp: 1_760_000_000_000,
  power_management: {
    enabled: true,
    techniques: '0x0B',
    avg_current_ma: 96.25,
    energy_saved_mah: saved,
    peripheral_savings_mah: 1.5,
    uptime_ms: 3_600_000,
    high_perf_ms: 600_000,
    normal_ms: 1_200_000,
    low_power_ms: 900_000,
    sleep_ms: 900_000,
  },
});

const fault = (id: string, faultType = 'crc_error', success = true) => ({
  device_id: id,
  timestamp: 1_760_000_100_000,
  fault_type: faultType,
  recovery_action: 'retry_read',
  success,
  details: 'CRC mismatch on read of 0x0000',
  retry_count: 2,
});

describe('generation 1.3 reports (unsecured control allowed for 1.3: the development default)', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  const cli = (...args: string[]) => ecowatt(server, ...args);

  it('keeps an unknown device registration as pending (201) without creating a device', async () => {
    const res = await send(server, '/devices', registration('reg-new', 'Before upload'));
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ status: 'pending', device_id: 'reg-new' });
    expect((await server.admin('GET', '/api/devices/reg-new')).status).toBe(404);
    const pending = await server.admin('GET', '/api/registrations');
    expect(pending.json.registrations).toContainEqual(
      expect.objectContaining({
        device_id: 'reg-new',
        device_name: 'Before upload',
        firmware_version: '1.3.4',
        verified: false,
        source: '127.0.0.1',
      }),
    );
    // Sent again: overwritten, one per id.
    expect((await send(server, '/devices', registration('reg-new', 'Again'))).status).toBe(201);
    const again = (await server.admin('GET', '/api/registrations')).json.registrations.filter(
      (r: any) => r.device_id === 'reg-new',
    );
    expect(again.map((r: any) => r.device_name)).toEqual(['Again']);

    // The first authenticated upload registers the device; the pending registration attaches.
    await upload(server, 'reg-new');
    const d = await server.admin('GET', '/api/devices/reg-new');
    expect(d.json.registration).toMatchObject({
      device_name: 'Again',
      verified: false,
      from_upload_address: true,
    });
    const after = (await server.admin('GET', '/api/registrations')).json.registrations;
    expect(after.map((r: any) => r.device_id)).not.toContain('reg-new');
  });

  it("stores a known device's registration through the guard (200), changing no policy or key", async () => {
    await upload(server, 'reg-known');
    const before = (await server.admin('GET', '/api/devices/reg-known')).json;
    // Fields a registration could try to smuggle in are not read.
    const res = await send(server, '/devices', {
      ...registration('reg-known'),
      allow_unsecured: true,
      allow_unsecured_config: true,
      with_key: true,
      status: 'active',
    });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ status: 'registered', device_id: 'reg-known' });
    const after = (await server.admin('GET', '/api/devices/reg-known')).json;
    expect(after.policy).toEqual(before.policy);
    expect(after.keys).toEqual(before.keys);
    expect(after.registration).toMatchObject({
      device_name: 'Roof inverter',
      firmware_version: '1.3.4',
      location: 'Lab 2',
      description: 'EcoWatt field unit',
      verified: true,
      from_upload_address: true,
    });
  });

  it('stores energy reports and shows the latest with energy saved and time in each power mode', async () => {
    await upload(server, 'en-1');
    const first = await send(server, '/power/energy/en-1', energy('en-1', 10));
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ status: 'success', device_id: 'en-1' });
    expect((await send(server, '/power/energy/en-1', energy('en-1', 12.5))).status).toBe(201);
    // A body without device_id is named by its path.
    const { device_id: _omitted, ...unnamed } = energy('en-1', 13.75);
    expect((await send(server, '/power/energy/en-1', unnamed)).status).toBe(201);

    const res = await server.admin('GET', '/api/devices/en-1/energy?limit=2');
    expect(res.status).toBe(200);
    expect(res.json.reports).toHaveLength(2);
    expect(res.json.latest).toMatchObject({
      energy_saved_mah: 13.75,
      peripheral_savings_mah: 1.5,
      avg_current_ma: 96.25,
      enabled: true,
      techniques: '0x0B',
      technique_names: ['wifi_modem_sleep', 'cpu_freq_scaling', 'peripheral_gating'],
      uptime_ms: 3_600_000,
      modes_ms: { high_perf: 600_000, normal: 1_200_000, low_power: 900_000, sleep: 900_000 },
      modes_percent: { high_perf: 16.7, normal: 33.3, low_power: 25, sleep: 25 },
      timestamp: 1_760_000_000_000,
      device_time: new Date(1_760_000_000_000).toISOString(),
      source: '127.0.0.1',
    });
    expect(res.json.reports[1].energy_saved_mah).toBe(12.5);
    const none = await server.admin('GET', '/api/devices/reg-known/energy');
    expect(none.json).toEqual({ device_id: 'reg-known', latest: null, reports: [] });
  });

  it('stores fault-recovery reports, newest first, with a limit', async () => {
    await upload(server, 'ft-1');
    expect((await send(server, '/fault/recovery', fault('ft-1', 'crc_error', true))).status).toBe(201);
    expect((await send(server, '/fault/recovery', fault('ft-1', 'timeout', false))).status).toBe(201);
    const res = await server.admin('GET', '/api/devices/ft-1/faults?limit=1');
    expect(res.json.faults).toEqual([
      expect.objectContaining({
        fault_type: 'timeout',
        recovery_action: 'retry_read',
        success: false,
        retry_count: 2,
        details: 'CRC mismatch on read of 0x0000',
      }),
    ]);
    expect((await server.admin('GET', '/api/devices/ft-1/faults')).json.faults).toHaveLength(2);
    expect((await server.admin('GET', '/api/devices/ft-1/faults?limit=0')).status).toBe(400);
    expect((await server.admin('GET', '/api/devices/nobody/faults')).status).toBe(404);
  });

  it('accepts a sealed energy report (the nonce advances like an upload)', async () => {
    await upload(server, 'en-sealed', 10001);
    const envelope = sealed('en-sealed', 10002, { json: JSON.stringify(energy('en-sealed', 7)) });
    expect((await send(server, '/power/energy/en-sealed', envelope)).status).toBe(201);
    const replay = await send(server, '/power/energy/en-sealed', envelope);
    expect(replay.status).toBe(401);
    expect(replay.json.error).toBe('replayed_nonce');
    expect((await server.admin('GET', '/api/devices/en-sealed/energy')).json.latest.energy_saved_mah).toBe(7);
  });

  it('refuses reports of unknown devices and of another device than the path names', async () => {
    const bare = await send(server, '/power/energy/ghost', energy('ghost'));
    expect(bare.status).toBe(403);
    expect(bare.json.error).toBe('unsecured_not_allowed');
    expect((await send(server, '/fault/recovery', fault('ghost'))).json.error).toBe('unsecured_not_allowed');
    const envelope = sealed('ghost', 10001, { json: JSON.stringify(energy('ghost')) });
    const sealedUnknown = await send(server, '/power/energy/ghost', envelope);
    expect(sealedUnknown.status).toBe(404);
    expect(sealedUnknown.json.error).toBe('not_found');
    expect((await server.admin('GET', '/api/devices/ghost')).status).toBe(404);

    await upload(server, 'path-a');
    const other = await send(server, '/power/energy/path-b', energy('path-a'));
    expect(other.status).toBe(401);
    expect(other.json.error).toBe('authentication_failed');
  });

  it('refuses malformed bodies with 400 and a code naming the field, storing nothing', async () => {
    await upload(server, 'bad-1');
    const cases: [string, unknown, string, string | undefined][] = [
      [
        '/power/energy/bad-1',
        { ...energy('bad-1'), power_management: { ...energy('bad-1').power_management, techniques: 11 } },
        'invalid_parameter',
        'power_management.techniques',
      ],
      ['/power/energy/bad-1', { device_id: 'bad-1', timestamp: 1 }, 'invalid_parameter', 'power_management'],
      [
        '/power/energy/bad-1',
        { ...energy('bad-1'), power_management: { ...energy('bad-1').power_management, sleep_ms: -5 } },
        'invalid_parameter',
        'power_management.sleep_ms',
      ],
      ['/power/energy/bad-1', { ...energy('bad-1'), timestamp: 'now' }, 'invalid_parameter', 'timestamp'],
      ['/fault/recovery', { ...fault('bad-1'), retry_count: 300 }, 'invalid_parameter', 'retry_count'],
      ['/fault/recovery', { ...fault('bad-1'), success: 'yes' }, 'invalid_parameter', 'success'],
      ['/fault/recovery', { ...fault('bad-1'), fault_type: undefined }, 'invalid_parameter', 'fault_type'],
      ['/fault/recovery', { ...fault('bad-1'), details: 'x'.repeat(257) }, 'invalid_parameter', 'details'],
      [
        '/devices',
        { ...registration('bad-1'), device_name: 'n'.repeat(65) },
        'invalid_parameter',
        'device_name',
      ],
      [
        '/devices',
        { ...registration('bad-new'), location: 'line\u0007bell' },
        'invalid_parameter',
        'location',
      ],
      [
        '/devices',
        { ...registration('bad-new'), firmware_version: 134 },
        'invalid_parameter',
        'firmware_version',
      ],
      ['/devices', { device_name: 'no id' }, 'malformed_payload', undefined],
      ['/devices', [registration('bad-new')], 'malformed_payload', undefined],
      ['/devices', '{"device_id": "bad-new",', 'malformed_json', undefined],
    ];
    for (const [route, body, code, field] of cases) {
      const res = await send(server, route, body);
      expect(res.status, `${route} ${JSON.stringify(body)}`).toBe(400);
      expect(res.json.error).toBe(code);
      expect(typeof res.json.message).toBe('string');
      if (field) {
        expect(res.json.details?.field).toBe(field);
        expect(res.json.message).toContain(field);
      }
    }
    expect((await server.admin('GET', '/api/devices/bad-1/energy')).json.latest).toBeNull();
    expect((await server.admin('GET', '/api/devices/bad-1/faults')).json.faults).toEqual([]);
    expect((await server.admin('GET', '/api/devices/bad-1')).json.registration).toBeNull();
    const pending = (await server.admin('GET', '/api/registrations')).json.registrations;
    expect(pending.map((r: any) => r.device_id)).not.toContain('bad-new');
  });

  it('shows the reports in `ecowatt device show`, `device faults` and `device registrations`', async () => {
    await upload(server, 'cli-1');
    expect((await send(server, '/devices', registration('cli-1', 'CLI unit'))).status).toBe(200);
    expect((await send(server, '/power/energy/cli-1', energy('cli-1', 4.5))).status).toBe(201);
    expect((await send(server, '/fault/recovery', fault('cli-1', 'garbage_data', false))).status).toBe(201);
    expect((await send(server, '/devices', registration('cli-pending', 'Waiting'))).status).toBe(201);

    const show = await cli('device', 'show', 'cli-1');
    expect(show.code, show.stderr).toBe(0);
    const shown = JSON.parse(show.stdout);
    expect(shown.registration).toMatchObject({ device_name: 'CLI unit', verified: true });
    expect(shown.energy).toMatchObject({ energy_saved_mah: 4.5, modes_ms: { sleep: 900_000 } });
    expect(shown.recent_faults).toEqual([expect.objectContaining({ fault_type: 'garbage_data' })]);

    const faults = await cli('device', 'faults', 'cli-1');
    expect(faults.code, faults.stderr).toBe(0);
    expect(faults.stdout.split('\n')[0]).toContain('fault_type');
    expect(faults.stdout).toMatch(/garbage_data\tretry_read\tfalse\t2\t/);

    const pending = await cli('device', 'registrations');
    expect(pending.code, pending.stderr).toBe(0);
    expect(pending.stdout).toMatch(/cli-pending\t\S+\t127\.0\.0\.1\tWaiting/);
  });
});

describe('generation 1.3 reports with ECOWATT_UNSECURED_CONTROL=off', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer({ env: { ECOWATT_UNSECURED_CONTROL: 'off' } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('refuses bare reports and registrations of a device without the per-device policy', async () => {
    await upload(server, 'off-plain');
    for (const [route, body] of [
      ['/power/energy/off-plain', energy('off-plain')],
      ['/fault/recovery', fault('off-plain')],
      ['/devices', registration('off-plain')],
    ] as const) {
      const res = await send(server, route, body);
      expect(res.status, route).toBe(403);
      expect(res.json.error).toBe('unsecured_not_allowed');
    }
    expect((await server.admin('GET', '/api/devices/off-plain/energy')).json.latest).toBeNull();
    expect((await server.admin('GET', '/api/devices/off-plain/faults')).json.faults).toEqual([]);
    expect((await server.admin('GET', '/api/devices/off-plain')).json.registration).toBeNull();

    // Sealed, the same report is accepted.
    const envelope = sealed('off-plain', 10002, { json: JSON.stringify(energy('off-plain', 3)) });
    expect((await send(server, '/power/energy/off-plain', envelope)).status).toBe(201);
  });

  it('refuses a bare registration of an unknown id like any bare control request: nothing kept', async () => {
    const res = await send(server, '/devices', registration('off-unknown'));
    expect(res.status).toBe(403);
    expect(res.json.error).toBe('unsecured_not_allowed');
    expect((await server.admin('GET', '/api/registrations')).json.registrations).toEqual([]);
    expect((await server.admin('GET', '/api/devices/off-unknown')).status).toBe(404);
  });

  it('accepts bare reports from a device whose policy allows unsecured configuration', async () => {
    expect(
      (await server.admin('POST', '/api/devices', { id: 'off-policy', allow_unsecured_config: true })).status,
    ).toBe(201);
    await upload(server, 'off-policy');
    expect((await send(server, '/devices', registration('off-policy'))).status).toBe(200);
    expect((await send(server, '/power/energy/off-policy', energy('off-policy', 2.25))).status).toBe(201);
    expect((await send(server, '/fault/recovery', fault('off-policy'))).status).toBe(201);
    expect((await server.admin('GET', '/api/devices/off-policy/energy')).json.latest.energy_saved_mah).toBe(
      2.25,
    );
    expect((await server.admin('GET', '/api/devices/off-policy')).json.registration.verified).toBe(true);
  });
});
