/**
 * The API contract: `/api/openapi.json` is a valid OpenAPI 3.1 document that lists every route the
 * server registered, each with a summary, its path parameters and the schema of its answers; the
 * schemas are the ones Fastify validates with, so a request the document calls invalid is refused
 * with the API's own error answer. Runs the whole app in process from the compiled code.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, tempDataDir } from '../helpers/server-process.js';

const { createApp } = (await import(`${ROOT}/dist/src/app.js`)) as typeof import('../../src/app.js');
const { routeTable } = (await import(
  `${ROOT}/dist/src/http/http-server.js`
)) as typeof import('../../src/http/http-server.js');
const { loadSettings } = (await import(
  `${ROOT}/dist/src/settings/load-settings.js`
)) as typeof import('../../src/settings/load-settings.js');

type App = Awaited<ReturnType<typeof createApp>>;

interface Operation {
  summary?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: { in: string; name: string; required?: boolean }[];
  requestBody?: unknown;
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }>;
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
}

/** Swagger UI's own files and its copy of the document: not part of the API it describes. */
const DOCS_UI = /^\/api\/docs(\/|$)/;

const openApiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}');

describe('OpenAPI document', () => {
  let app: App;
  let base: string;
  let doc: Document;

  beforeAll(async () => {
    app = await createApp(
      loadSettings({
        env: {
          ECOWATT_DATA_DIR: tempDataDir(),
          ECOWATT_MQTT_EMBEDDED: 'false',
          ECOWATT_LOG_LEVEL: 'silent',
          ECOWATT_RATE_LIMIT_SOURCE: 'off',
          ECOWATT_RATE_LIMIT_DEVICE: 'off',
        },
      }),
    );
    base = await app.http.listen({ host: '127.0.0.1', port: 0 });
    // Public: an integrator generates a client before holding any credential.
    const res = await fetch(`${base}/api/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    doc = (await res.json()) as Document;
  });

  afterAll(async () => {
    await app?.close();
  });

  it('is what the reference page at /api/docs reads', async () => {
    const page = await fetch(`${base}/api/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(page.headers.get('content-security-policy')).not.toContain('https:');
    expect(await (await fetch(`${base}/api/docs/json`)).json()).toEqual(doc);
  });

  it('validates as OpenAPI 3.1', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const result = await new Validator().validate(doc as unknown as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('lists every registered route with a summary, its path parameters and its answers', () => {
    const routes = routeTable(app.http).filter((r) => !DOCS_UI.test(r.url));
    expect(routes.length).toBeGreaterThan(80);
    const problems: string[] = [];
    for (const route of routes) {
      const what = `${route.method} ${route.url}`;
      const op = doc.paths[openApiPath(route.url)]?.[route.method.toLowerCase()];
      if (!op) {
        problems.push(`${what}: missing from the document`);
        continue;
      }
      if (!op.summary) problems.push(`${what}: no summary`);
      for (const [, name] of route.url.matchAll(/:(\w+)/g)) {
        if (!op.parameters?.some((p) => p.in === 'path' && p.name === name && p.required))
          problems.push(`${what}: path parameter ${name} not declared`);
      }
      const answers = Object.entries(op.responses ?? {});
      const ok = answers.find(([status]) => /^[23]\d\d$/.test(status));
      if (!ok) problems.push(`${what}: no success answer`);
      else if (
        ok[0] !== '204' &&
        ok[0] !== '302' &&
        !Object.values(ok[1].content ?? {}).some((c) => c.schema)
      )
        problems.push(`${what}: success answer ${ok[0]} has no schema`);
      // A route that takes anything from the client says how it refuses it.
      const takesInput = (op.parameters?.length ?? 0) > 0 || op.requestBody !== undefined;
      if (takesInput && !answers.some(([status]) => status.startsWith('4')))
        problems.push(`${what}: no error answers`);
    }
    expect(problems).toEqual([]);
  });

  it('declares who may call each admin route and points errors at the one error shape', () => {
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['bearer', 'session']);
    expect(doc.components.schemas.ErrorAnswer).toBeDefined();
    const devices = doc.paths['/api/devices']?.get;
    expect(devices?.security).toEqual([{ bearer: [] }, { session: [] }]);
    expect(JSON.stringify(devices?.responses?.['401'])).toContain('#/components/schemas/ErrorAnswer');
    // Device-facing routes authenticate with the sealed envelope, not an admin credential.
    expect(doc.paths['/process']?.post?.security).toEqual([]);
    expect(doc.paths['/process']?.post?.tags).toEqual(['device']);
  });

  it('refuses what the document calls invalid with the API error answer naming the field', async () => {
    const token = `Bearer ${app.adminToken}`;
    const query = await fetch(`${base}/api/fleet/config/history?limit=0`, {
      headers: { authorization: token },
    });
    expect(query.status).toBe(400);
    expect(await query.json()).toMatchObject({
      error: 'invalid_parameter',
      message: 'limit: expected an integer from 1 to 1000',
      details: { field: 'limit' },
    });
    const body = await fetch(`${base}/api/devices/anyone/config/withdraw`, {
      method: 'POST',
      headers: { authorization: token, 'content-type': 'application/json' },
      body: JSON.stringify({ reasn: 'typo' }),
    });
    expect(body.status).toBe(400);
    expect(await body.json()).toMatchObject({
      error: 'invalid_parameter',
      message: 'reasn: not a field this route takes',
      details: { field: 'reasn' },
    });
  });
});
