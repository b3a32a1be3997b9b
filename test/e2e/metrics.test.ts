/** Metrics scraped during a simulator run show the counts the simulator expects. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSimulation } from '../../src/sim/simulator.js';
import { eventually } from '../helpers/eventually.js';
import { post, type RunningServer, startServer } from '../helpers/server-process.js';
import { sealed } from '../helpers/uploads.js';

let server: RunningServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`${server.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('GET /metrics', () => {
  it('counts accepted uploads, readings by quality, rejections by reason', async () => {
    const summary = await runSimulation({
      url: server.url,
      devices: 3,
      intervalSeconds: 0.01,
      uploadsPerDevice: 4,
      encrypt: false,
    });
    expect(summary.accepted).toBe(12);
    const env = sealed('metrics-attack', 10001);
    expect((await post(server.url, env)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await post(server.url, env)).status).toBe(401);

    await eventually(async () => {
      const m = await scrape();
      expect(m.get('ecowatt_uploads_accepted_total{protocol="v1"}')).toBe(13);
      expect(m.get('ecowatt_uploads_rejected_total{code="replayed_nonce",reason="duplicate"}')).toBe(3);
      const readings = [...m.entries()]
        .filter(([k]) => k.startsWith('ecowatt_readings_total'))
        .reduce((n, [, v]) => n + v, 0);
      expect(readings).toBeGreaterThanOrEqual(13 * 30);
      expect(m.get('ecowatt_database_up')).toBe(1);
      // The fleet as a whole: 3 simulated devices and the attacked one, all uploaded just now.
      expect(m.get('ecowatt_devices')).toBe(4);
      expect(m.get('ecowatt_devices_never_uploaded')).toBe(0);
      expect(m.get('ecowatt_devices_uploaded_within{window="1m"}')).toBe(4);
      expect(m.get('ecowatt_devices_uploaded_within{window="7d"}')).toBe(4);
      expect(m.get('ecowatt_nonce_gap_uploads_total')).toBe(0);
      // No series per device: their number does not grow with the fleet.
      expect([...m.keys()].filter((k) => /\bdevice=/.test(k))).toEqual([]);
      expect([...m.keys()].some((k) => k.startsWith('ecowatt_http_request_duration_seconds_bucket{'))).toBe(
        true,
      );
    });
  });
});

describe('GET /metrics with ECOWATT_METRICS_TOKEN', () => {
  it('answers only with the token', async () => {
    const guarded = await startServer({ env: { ECOWATT_METRICS_TOKEN: 'scrape-secret-1' } });
    try {
      const none = await fetch(`${guarded.url}/metrics`);
      expect(none.status).toBe(401);
      expect(await none.json()).toMatchObject({ error: 'unauthorized' });
      const wrong = await fetch(`${guarded.url}/metrics`, {
        headers: { authorization: 'Bearer scrape-secret-2' },
      });
      expect(wrong.status).toBe(401);
      // The admin token is not the metrics token.
      const admin = await fetch(`${guarded.url}/metrics`, {
        headers: { authorization: `Bearer ${guarded.adminToken}` },
      });
      expect(admin.status).toBe(401);
      const ok = await fetch(`${guarded.url}/metrics`, {
        headers: { authorization: 'Bearer scrape-secret-1' },
      });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('ecowatt_devices ');
      expect(guarded.output()).not.toContain('scrape-secret-1');
    } finally {
      await guarded.stop();
    }
  });
});
