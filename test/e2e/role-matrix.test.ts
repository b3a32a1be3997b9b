/**
 * The role matrix, generated from the route table itself: every route under /api declares the
 * least role it needs; each refuses a request without credentials (401 `unauthorized`), a lower
 * role (403 `forbidden`, naming the role needed) and accepts its own role and those above it. A
 * route without a declared role fails this test (and is refused to everyone at run time). Runs
 * the whole app in process on each storage profile (SQLite; PostgreSQL when it is there), from
 * the compiled code as in production (the SQLite writer thread runs it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES, type Role } from '../../src/model/operator.js';
import { ROOT, tempDataDir } from '../helpers/server-process.js';
import { createSchema, servicesAvailable } from '../helpers/services.js';

const { createApp } = (await import(`${ROOT}/dist/src/app.js`)) as typeof import('../../src/app.js');
const { routeTable } = (await import(
  `${ROOT}/dist/src/http/http-server.js`
)) as typeof import('../../src/http/http-server.js');
const { loadSettings } = (await import(
  `${ROOT}/dist/src/settings/load-settings.js`
)) as typeof import('../../src/settings/load-settings.js');

type App = Awaited<ReturnType<typeof createApp>>;

/** What each admin route needs; the test fails when the code and this table disagree, so a changed role is a reviewed change. */
const EXPECTED: Record<string, Role | 'public'> = {
  'POST /api/session': 'public',
  'DELETE /api/session': 'public',
  'GET /api/session': 'viewer',
  'PUT /api/session/password': 'viewer',
  'GET /api/users': 'admin',
  'POST /api/users': 'admin',
  'GET /api/users/:name': 'admin',
  'PATCH /api/users/:name': 'admin',
  'PUT /api/users/:name/password': 'admin',
  'POST /api/users/:name/disable': 'admin',
  'POST /api/users/:name/enable': 'admin',
  'GET /api/api-keys': 'admin',
  'POST /api/api-keys': 'admin',
  'DELETE /api/api-keys/:name': 'admin',
  'GET /api/devices': 'viewer',
  'POST /api/devices': 'admin',
  'GET /api/devices/:id': 'viewer',
  'PATCH /api/devices/:id/policy': 'admin',
  'POST /api/devices/:id/disable': 'operator',
  'POST /api/devices/:id/enable': 'operator',
  'POST /api/devices/:id/keys': 'admin',
  'DELETE /api/devices/:id/keys/:kid': 'admin',
  'POST /api/devices/:id/replay-reset': 'admin',
  'GET /api/devices/:id/readings': 'viewer',
  'GET /api/devices/:id/latest': 'viewer',
  'GET /api/security-events': 'viewer',
  'GET /api/alerts': 'viewer',
  'GET /api/audit': 'viewer',
  'GET /api/uploads/:id': 'viewer',
  'GET /api/devices/:id/energy': 'viewer',
  'GET /api/devices/:id/faults': 'viewer',
  'GET /api/registrations': 'viewer',
  'POST /api/firmware': 'admin',
  'GET /api/firmware': 'viewer',
  'GET /api/firmware/:version': 'viewer',
  'POST /api/rollouts': 'admin',
  'GET /api/rollouts': 'viewer',
  'GET /api/rollouts/:id': 'viewer',
  'POST /api/rollouts/:id/pause': 'operator',
  'POST /api/rollouts/:id/resume': 'operator',
  'POST /api/rollouts/:id/abort': 'admin',
  'GET /api/rollout-groups': 'viewer',
  'PUT /api/rollout-groups/:name': 'admin',
  'GET /api/fleet/config': 'viewer',
  'PUT /api/fleet/config': 'operator',
  'GET /api/fleet/config/history': 'viewer',
  'GET /api/devices/:id/config': 'viewer',
  'PUT /api/devices/:id/config': 'operator',
  'POST /api/devices/:id/config/withdraw': 'operator',
  'GET /api/devices/:id/config/history': 'viewer',
  'POST /api/devices/:id/commands': 'operator',
  'GET /api/devices/:id/commands': 'viewer',
  'GET /api/devices/:id/commands/:cid': 'viewer',
  'DELETE /api/devices/:id/commands/:cid': 'operator',
  'GET /api/live': 'viewer',
  'POST /api/live/ticket': 'viewer',
  'GET /api/dashboard/fleet': 'viewer',
  'GET /api/devices/:id/uploads': 'viewer',
  'GET /api/devices/:id/series': 'viewer',
  // The API's own description (http/openapi/api-docs.ts): public, nothing a client could not learn by calling.
  'GET /api/openapi.json': 'public',
  'GET /api/docs': 'public',
  'GET /api/docs/static/index.html': 'public',
  'GET /api/docs/static/swagger-initializer.js': 'public',
  'GET /api/docs/json': 'public',
  'GET /api/docs/yaml': 'public',
  'GET /api/docs/static/*': 'public',
};

const PARAMS: Record<string, string> = {
  id: 'matrix-device',
  kid: 'k-matrix',
  cid: '1',
  version: '9.9.9',
  name: 'matrix-nobody',
};
const concrete = (url: string) => url.replace(/:(\w+)/g, (_, p: string) => PARAMS[p] ?? 'x');

async function profiles(): Promise<[string, () => Promise<Record<string, string>>][]> {
  const out: [string, () => Promise<Record<string, string>>][] = [['SQLite', async () => ({})]];
  if (await servicesAvailable('postgres')) {
    out.push([
      'PostgreSQL',
      async () => {
        const schema = await createSchema('role_matrix');
        cleanups.push(() => schema.drop());
        return { ECOWATT_DATABASE_URL: schema.url };
      },
    ]);
  }
  return out;
}

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c().catch(() => undefined);
});

for (const [profile, env] of await profiles()) {
  describe(`role matrix (${profile})`, () => {
    let app: App;
    let base: string;
    const keys = {} as Record<Role, string>;

    beforeAll(async () => {
      const settings = loadSettings({
        env: {
          ECOWATT_DATA_DIR: tempDataDir(),
          ECOWATT_MQTT_EMBEDDED: 'false',
          ECOWATT_LOG_LEVEL: 'silent',
          ECOWATT_RATE_LIMIT_SOURCE: 'off',
          ECOWATT_RATE_LIMIT_DEVICE: 'off',
          ...(await env()),
        },
      });
      app = await createApp(settings);
      base = await app.http.listen({ host: '127.0.0.1', port: 0 });
      for (const role of ROLES) {
        const res = await call('POST', '/api/api-keys', `Bearer ${app.adminToken}`, {
          name: `matrix-${role}`,
          role,
        });
        expect(res.status).toBe(201);
        keys[role] = res.json.key;
      }
    });

    afterAll(async () => {
      await app?.close();
    });

    /** One request; the live stream is left as soon as its status is known. */
    async function call(
      method: string,
      url: string,
      authorization: string | undefined,
      body?: unknown,
    ): Promise<{ status: number; json: any }> {
      const abort = new AbortController();
      const res = await fetch(`${base}${url}`, {
        method,
        signal: abort.signal,
        headers: {
          ...(authorization ? { authorization } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
        abort.abort();
        return { status: res.status, json: null };
      }
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : null };
    }

    it('has a declared role on every route under /api, as reviewed in the expected table', () => {
      const api = routeTable(app.http).filter((r) => r.url.startsWith('/api'));
      expect(api.length).toBeGreaterThan(40);
      const undeclared = api.filter((r) => r.role === undefined).map((r) => `${r.method} ${r.url}`);
      expect(undeclared).toEqual([]);
      const actual = Object.fromEntries(api.map((r) => [`${r.method} ${r.url}`, r.role]));
      expect(actual).toEqual(EXPECTED);
    });

    it('refuses no credentials (401), a lower role (403 naming the role needed), accepts its role and above', async () => {
      const problems: string[] = [];
      const routes = routeTable(app.http).filter((r) => r.url.startsWith('/api') && r.role !== 'public');
      for (const route of routes) {
        const need = route.role as Role;
        const url = concrete(route.url);
        const what = `${route.method} ${route.url}`;
        const anonymous = await call(route.method, url, undefined);
        if (anonymous.status !== 401 || anonymous.json?.error !== 'unauthorized')
          problems.push(`${what} without credentials: ${anonymous.status} ${anonymous.json?.error}`);
        for (const role of ROLES) {
          const res = await call(route.method, url, `Bearer ${keys[role]}`);
          const allowed = ROLES.indexOf(role) >= ROLES.indexOf(need);
          if (allowed && (res.status === 401 || res.status === 403)) {
            problems.push(`${what} as ${role} (needs ${need}): refused ${res.status} ${res.json?.error}`);
          }
          if (!allowed) {
            const ok =
              res.status === 403 &&
              res.json?.error === 'forbidden' &&
              res.json?.details?.required_role === need &&
              String(res.json?.message).includes(need);
            if (!ok)
              problems.push(`${what} as ${role} (needs ${need}): ${res.status} ${JSON.stringify(res.json)}`);
          }
          if (res.status >= 500)
            problems.push(`${what} as ${role}: ${res.status} ${JSON.stringify(res.json)}`);
        }
      }
      expect(problems).toEqual([]);
    });

    it('takes the admin token as a break-glass admin, and refuses a wrong bearer or a revoked key', async () => {
      expect((await call('GET', '/api/users', `Bearer ${app.adminToken}`)).status).toBe(200);
      expect((await call('GET', '/api/devices', 'Bearer not-the-token')).status).toBe(401);
      expect((await call('GET', '/api/devices', 'Basic abc')).status).toBe(401);
      const made = await call('POST', '/api/api-keys', `Bearer ${keys.admin}`, {
        name: 'short-lived',
        role: 'viewer',
      });
      expect(made.status).toBe(201);
      expect((await call('GET', '/api/devices', `Bearer ${made.json.key}`)).status).toBe(200);
      expect((await call('DELETE', '/api/api-keys/short-lived', `Bearer ${keys.admin}`)).status).toBe(200);
      const revoked = await call('GET', '/api/devices', `Bearer ${made.json.key}`);
      expect(revoked).toMatchObject({
        status: 401,
        json: { error: 'unauthorized', message: 'This API key was revoked.' },
      });
      // A key with a valid shape but an unknown secret.
      const forged = `${made.json.key.slice(0, 12)}${'A'.repeat(43)}`;
      expect((await call('GET', '/api/devices', `Bearer ${forged}`)).status).toBe(401);
    });

    it('names the actor of each administrative action in the audit log', async () => {
      const device = await call('POST', '/api/devices', `Bearer ${keys.admin}`, { id: 'audited-1' });
      expect(device.status).toBe(201);
      expect(
        (await call('POST', '/api/devices/audited-1/disable', `Bearer ${keys.operator}`, { reason: 'test' }))
          .status,
      ).toBe(200);
      expect(
        (await call('POST', '/api/devices/audited-1/enable', `Bearer ${app.adminToken}`, {})).status,
      ).toBe(200);
      const audit = await call('GET', '/api/audit?device=audited-1', `Bearer ${keys.viewer}`);
      expect(audit.json.entries.map((e: { actor: string; action: string }) => [e.actor, e.action])).toEqual([
        ['token', 'device.enabled'],
        ['apikey:matrix-operator', 'device.disabled'],
        ['apikey:matrix-admin', 'device.added'],
      ]);
    });
  });
}
