/**
 * The dashboard's server side over real HTTP: the static files, the routes it adds to the admin
 * API, and the live stream (Server-Sent Events) with its authentication.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

/** Reads a live stream's events into a list until stopped. */
function listen(url: string, headers: Record<string, string> = {}) {
  const events: { event: string; data: any }[] = [];
  const abort = new AbortController();
  const opened = fetch(url, { headers, signal: abort.signal }).then(async (res) => {
    if (res.status !== 200 || !res.body) return res;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buffer += decoder.decode(value, { stream: true });
          let cut = buffer.indexOf('\n\n');
          while (cut >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (event && data) events.push({ event, data: JSON.parse(data) });
            cut = buffer.indexOf('\n\n');
          }
        }
      } catch {
        /* aborted */
      }
    })();
    return res;
  });
  return { events, opened, stop: () => abort.abort() };
}

describe('dashboard: static files', () => {
  it('serves the built dashboard at / with a strict content security policy', async () => {
    const res = await fetch(`${server.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await res.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const js = await fetch(`${server.url}${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect(js.headers.get('cache-control')).toContain('immutable');
    expect((await fetch(`${server.url}/assets/nope.js`)).status).toBe(404);
    expect((await fetch(`${server.url}/assets/..%2Fpackage.json`)).status).toBe(404);
  });

  it('leaves the device, operations and API routes alone', async () => {
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect((await fetch(`${server.url}/status`)).status).toBe(200);
    const unknown = await fetch(`${server.url}/no-such-page`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toBe('not_found');
  });
});

describe('dashboard: authentication', () => {
  it('refuses the admin API and the dashboard routes without the token', async () => {
    for (const path of [
      '/api/devices',
      '/api/dashboard/fleet',
      '/api/devices/x/uploads',
      '/api/devices/x/series',
      '/api/security-events',
      '/api/audit',
    ]) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status, path).toBe(401);
      expect(((await res.json()) as { error: string }).error).toBe('unauthorized');
      const wrong = await fetch(`${server.url}${path}`, { headers: { authorization: 'Bearer wrong-token' } });
      expect(wrong.status, path).toBe(401);
    }
    const ticket = await fetch(`${server.url}/api/live/ticket`, { method: 'POST' });
    expect(ticket.status).toBe(401);
  });

  it('refuses the live stream without a token or a valid ticket', async () => {
    for (const path of [
      '/api/live',
      '/api/live?ticket=',
      '/api/live?ticket=123.abc.def',
      `/api/live?token=${server.adminToken}`,
    ]) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status, path).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/json/);
    }
    // A ticket with a forged MAC.
    const { json } = await server.admin('POST', '/api/live/ticket');
    const forged = `${json.ticket.slice(0, -4)}AAAA`;
    expect((await fetch(`${server.url}/api/live?ticket=${forged}`)).status).toBe(401);
  });
});

describe('dashboard: live stream', () => {
  it('pushes committed uploads and security events to a stream opened with a ticket', async () => {
    const { status, json } = await server.admin('POST', '/api/live/ticket');
    expect(status).toBe(200);
    expect(Date.parse(json.expires_at)).toBeGreaterThan(Date.now());
    const stream = listen(`${server.url}/api/live?ticket=${encodeURIComponent(json.ticket)}`);
    const res = await stream.opened;
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    await eventually(async () => expect(stream.events.map((e) => e.event)).toContain('hello'));

    const body = sealed('live-dev', 10001);
    expect((await post(server.url, body)).status).toBe(200);
    const upload = await eventually(async () => {
      const e = stream.events.find((x) => x.event === 'upload' && x.data.device_id === 'live-dev');
      expect(e).toBeDefined();
      return e!.data;
    });
    expect(upload.samples).toBe(5);
    expect(upload.registered).toBe(true);
    expect(upload.latest.map((v: { register: string }) => v.register)).toContain('Pac');

    expect((await post(server.url, body)).status).toBe(401);
    const replay = await eventually(async () => {
      const e = stream.events.find((x) => x.event === 'security' && x.data.device_id === 'live-dev');
      expect(e).toBeDefined();
      return e!.data;
    });
    expect(replay.code).toBe('replayed_nonce');
    stream.stop();
  });

  it('accepts the bearer token on the stream for non-browser clients', async () => {
    const stream = listen(`${server.url}/api/live`, { authorization: `Bearer ${server.adminToken}` });
    expect((await stream.opened).status).toBe(200);
    await eventually(async () => expect(stream.events.map((e) => e.event)).toContain('hello'));
    stream.stop();
  });
});

describe('dashboard: data routes', () => {
  it('summarises the fleet with link status, power and badges', async () => {
    expect((await post(server.url, sealed('fleet-dev', 10001))).status).toBe(200);
    const { status, json } = await server.admin('GET', '/api/dashboard/fleet');
    expect(status).toBe(200);
    const row = json.devices.find((d: { id: string }) => d.id === 'fleet-dev');
    expect(row).toMatchObject({ status: 'active', link: 'online', uploads: 1 });
    expect(row.power).toMatchObject({ register: 'Pac', unit: 'W' });
    expect(typeof row.energy_today_wh).toBe('number');
    expect(json.totals.devices).toBeGreaterThanOrEqual(1);
  });

  it("lists a device's uploads and buckets its readings for charts", async () => {
    expect((await post(server.url, sealed('chart-dev', 10001))).status).toBe(200);
    expect((await post(server.url, sealed('chart-dev', 10002))).status).toBe(200);
    const uploads = await server.admin('GET', '/api/devices/chart-dev/uploads?limit=1');
    expect(uploads.status).toBe(200);
    expect(uploads.json.uploads).toHaveLength(1);
    expect(uploads.json.uploads[0]).toMatchObject({ nonce: 10002, packets: 1, quarantined: [] });
    expect(uploads.json.next).toBe(uploads.json.uploads[0].id);
    const older = await server.admin('GET', `/api/devices/chart-dev/uploads?before=${uploads.json.next}`);
    expect(older.json.uploads.map((u: { nonce: number }) => u.nonce)).toEqual([10001]);

    const series = await server.admin('GET', '/api/devices/chart-dev/series?register=Pac,Vac1&points=3600');
    expect(series.status).toBe(200);
    expect(series.json.registers.map((r: { register: string }) => r.register)).toEqual(['Pac', 'Vac1']);
    expect(series.json.time.length).toBeGreaterThan(0);
    expect(series.json.values[1].some((v: number | null) => v !== null && v > 200)).toBe(true);
    expect(
      (await server.admin('GET', '/api/devices/chart-dev/series?from=2026-01-02&to=2026-01-01')).status,
    ).toBe(400);
    expect((await server.admin('GET', '/api/devices/nobody/series')).status).toBe(404);
  });
});
