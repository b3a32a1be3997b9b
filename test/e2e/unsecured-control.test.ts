/**
 * Unsigned control requests under `ECOWATT_UNSECURED_CONTROL` (development default `all`): believed
 * only from the address of the device's latest authenticated upload, within the window; refusals
 * are security events that reach the metrics and alerts like an upload's, and every accepted one
 * is counted per device.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DeviceAnswer, deviceRequest } from '../helpers/device-request.js';
import { EmulatedFieldDevice } from '../helpers/emulated-field-device.js';
import { eventually } from '../helpers/eventually.js';
import { post, type RunningServer, startServer } from '../helpers/server-process.js';

let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ env: { ECOWATT_CONTROL_SOURCE_WINDOW_SECONDS: '2' } });
});
afterAll(async () => {
  await server?.stop();
});

/** A bare `POST /changes` as the e84f720 firmware sends it, from a chosen loopback address. */
function changes(base: string, body: unknown, from = '127.0.0.1'): Promise<DeviceAnswer> {
  return deviceRequest(base, 'POST', '/changes', body, { from });
}

async function metric(name: string): Promise<string[]> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name));
}

const ask = (id: string, from?: string) => changes(server.url, { device_id: id, timestamp: 5000 }, from);

describe('unsigned control requests, bound to the source of authenticated uploads', () => {
  it('accepts them from the upload address, counts them, and refuses another address with an event', async () => {
    const device = new EmulatedFieldDevice('uc-field');
    expect((await post(server.url, device.nextUpload())).status).toBe(200);
    expect((await ask('uc-field')).status).toBe(200);

    const stranger = await ask('uc-field', '127.0.0.2');
    expect(stranger.status).toBe(403);
    expect(stranger.json.error).toBe('control_source_mismatch');
    const event = await eventually(async () => {
      const r = await server.admin(
        'GET',
        '/api/security-events?device=uc-field&code=control_source_mismatch',
      );
      expect(r.json.events).toHaveLength(1);
      return r.json.events[0];
    });
    expect(event).toMatchObject({
      reason: 'other_address',
      source: '127.0.0.2',
      detail: { generation: 'e84f720', authenticated_source: '127.0.0.1' },
    });

    const shown = await eventually(async () => {
      const d = await server.admin('GET', '/api/devices/uc-field');
      expect(d.json.counters.unsecured_control).toEqual({ e84f720: 1 });
      return d.json;
    });
    expect(shown.counters.rejects).toEqual({ control_source_mismatch: 1 });
    expect(shown.generation).toBe('e84f720');
    expect(await metric('ecowatt_unsecured_control_requests_total{generation="e84f720"}')).toEqual([
      'ecowatt_unsecured_control_requests_total{generation="e84f720"} 1',
    ]);
    expect(await metric('ecowatt_events_total{code="control_source_mismatch"}')).toHaveLength(1);
  });

  it('refuses a device that never made an authenticated upload, and one whose upload is too old', async () => {
    expect((await server.admin('POST', '/api/devices', { id: 'uc-new' })).status).toBe(201);
    const fresh = await ask('uc-new');
    expect(fresh.status).toBe(403);
    expect(fresh.json.error).toBe('control_source_mismatch');

    const device = new EmulatedFieldDevice('uc-old');
    expect((await post(server.url, device.nextUpload())).status).toBe(200);
    expect((await ask('uc-old')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 2200));
    const stale = await ask('uc-old');
    expect(stale.status).toBe(403);
    await eventually(async () => {
      const r = await server.admin('GET', '/api/security-events?device=uc-old&code=control_source_mismatch');
      expect(r.json.events[0].reason).toBe('authenticated_upload_too_old');
    });
    // The next authenticated upload binds the device again.
    expect((await post(server.url, device.nextUpload())).status).toBe(200);
    expect((await ask('uc-old')).status).toBe(200);
  });

  it('exempts a device an administrator allowed by its own policy (NAT), wherever it asks from', async () => {
    expect(
      (await server.admin('POST', '/api/devices', { id: 'uc-nat', allow_unsecured_config: true })).status,
    ).toBe(201);
    expect((await ask('uc-nat', '127.0.0.3')).status).toBe(200);
  });

  it('sends a replayed sealed control request to the same events, metrics and alerts as an upload', async () => {
    const device = new EmulatedFieldDevice('uc-replay');
    expect((await post(server.url, device.nextUpload())).status).toBe(200);
    const sealed = JSON.parse(device.sealed({ timestamp: 5000 }));
    expect((await changes(server.url, sealed)).status).toBe(200);
    for (let i = 0; i < 5; i++) {
      const again = await changes(server.url, sealed);
      expect(again.status).toBe(401);
      expect(again.json.error).toBe('replayed_nonce');
    }
    await eventually(async () => {
      const lines = await metric('ecowatt_events_total{code="replayed_nonce"}');
      expect(lines[0]).toMatch(/ 5$/);
      const alerts = await server.admin('GET', '/api/alerts?limit=100');
      expect(JSON.stringify(alerts.json)).toContain('uc-replay');
    });
  });

  it('refuses every unsigned control request when the setting is off and the policy does not allow it', async () => {
    const strict = await startServer({ env: { ECOWATT_UNSECURED_CONTROL: 'off' } });
    try {
      const device = new EmulatedFieldDevice('uc-off');
      expect((await post(strict.url, device.nextUpload())).status).toBe(200);
      const bare = await changes(strict.url, { device_id: 'uc-off', timestamp: 5000 });
      expect(bare.status).toBe(403);
      expect(bare.json.error).toBe('unsecured_not_allowed');
    } finally {
      await strict.stop();
    }
  });
});
