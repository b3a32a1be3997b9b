/**
 * The firmware admin API under /api (roles: http/admin/admin-auth.ts): the catalogue (`POST /api/firmware` takes the
 * image as a streamed `application/octet-stream` body, for one firmware generation), rollouts
 * and their groups; and `GET /ota/status`: the reference server's session list for the
 * administrator, and the 1.3 firmware's boot probe (a bare 200) for everyone else.
 */
import type { FastifyInstance } from 'fastify';
import { type AdminAccess, actor, requireAccess, role } from '../../http/admin/admin-auth.js';
import { asFields, type Fields, invalid, optBool, optString, parseLimit } from '../../http/admin/params.js';
import { GENERATIONS, type Generation } from '../../model/device.js';
import { ApiError } from '../../model/errors.js';
import { OPEN_SESSION_STATES, type RolloutTarget } from '../../model/firmware.js';
import { roleAllows } from '../../model/operator.js';
import type { RolloutAction } from '../../ports/firmware-store.js';
import type { FirmwareCatalogue } from '../firmware-catalogue.js';
import { DEFAULT_GENERATION, parseGenerationName } from '../firmware-keys.js';
import type { OtaService } from '../ota-service.js';
import type { RolloutService } from '../rollout-service.js';
import { imageView, rolloutView, sessionView } from './firmware-views.js';

export interface FirmwareAdminDeps {
  catalogue: FirmwareCatalogue;
  rollouts: RolloutService;
  ota: OtaService;
  access: AdminAccess;
}

type IdParams = { id: string };

function optNumber(f: Fields, key: string): number | undefined {
  const v = f[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) invalid(key, 'expected a number');
  return v;
}

function stringList(v: unknown, field: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    invalid(field, 'expected a list of strings');
  return v as string[];
}

function numberList(v: unknown, field: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number'))
    invalid(field, 'expected a list of numbers');
  return v as number[];
}

/** `"all"`, or `{"kind": "all" | "group" | "devices" | "percentage", …}`. */
function parseTarget(v: unknown): RolloutTarget {
  if (v === 'all') return { kind: 'all' };
  const f = asFields(v, 'target');
  switch (f.kind) {
    case 'all':
      return { kind: 'all' };
    case 'group':
      return { kind: 'group', group: optString(f, 'group') ?? invalid('target.group', 'required') };
    case 'devices':
      return { kind: 'devices', devices: stringList(f.devices, 'target.devices') };
    case 'percentage': {
      const wait = optNumber(f, 'step_wait_seconds');
      return {
        kind: 'percentage',
        steps: f.steps === undefined ? [] : numberList(f.steps, 'target.steps'),
        stepWaitMs: wait === undefined ? Number.NaN : wait * 1000,
      };
    }
    default:
      return invalid('target.kind', 'expected all, group, devices or percentage');
  }
}

function parseGenerationParam(v: string | undefined): Generation | undefined {
  if (v === undefined || v === '') return undefined;
  return parseGenerationName(v) ?? invalid('generation', `expected one of ${GENERATIONS.join(', ')}`);
}

function parseId(v: string): number {
  if (!/^\d{1,12}$/.test(v)) throw new ApiError('not_found', `No rollout ${v}.`);
  return Number(v);
}

export async function firmwareAdminRoutes(app: FastifyInstance, deps: FirmwareAdminDeps): Promise<void> {
  const { catalogue, rollouts } = deps;
  requireAccess(app, deps.access);
  // The image streams through the sealer; it is never buffered whole by a body parser.
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));

  app.post<{ Querystring: Record<string, string> }>('/firmware', role('admin'), async (request, reply) => {
    const type = request.headers['content-type'] ?? '';
    if (!/^application\/octet-stream\s*(?:;|$)/i.test(type)) {
      throw new ApiError('unsupported_media_type', 'Send the image as application/octet-stream.');
    }
    const q = request.query;
    const version = q.version || invalid('version', 'required (X.Y.Z)');
    const generation = parseGenerationParam(q.generation) ?? DEFAULT_GENERATION;
    const length = Number(request.headers['content-length']);
    const image = await catalogue.add({
      version,
      generation,
      notes: q.notes ? q.notes.slice(0, 1000) : null,
      force: q.force === 'true' || q.force === '1',
      source: request.body as AsyncIterable<Uint8Array>,
      ...(Number.isSafeInteger(length) ? { declaredSize: length } : {}),
      actor: actor(request),
    });
    reply.code(201);
    return { firmware: imageView(image, catalogue.servable(image)) };
  });

  app.get('/firmware', role('viewer'), async () => {
    const keys = catalogue.keys;
    const keySet = (g: Generation) => {
      const k = catalogue.keysFor(g);
      return k ? { configured: true, key_id: k.keyId } : { configured: false, key_id: null };
    };
    return {
      // `keys`: the e84f720 set, as before generations; `key_sets`: one per generation.
      keys: keys ? { configured: true, key_id: keys.keyId } : { configured: false, key_id: null },
      key_sets: Object.fromEntries(GENERATIONS.map((g) => [g, keySet(g)])),
      max_bytes: catalogue.maxBytes,
      firmware: (await catalogue.list()).map((i) => imageView(i, catalogue.servable(i))),
    };
  });

  /** The version's image (of `?generation=`, default the first: e84f720) and every generation's. */
  app.get<{ Params: { version: string }; Querystring: Record<string, string> }>(
    '/firmware/:version',
    role('viewer'),
    async (request) => {
      const image = await catalogue.require(
        request.params.version,
        parseGenerationParam(request.query.generation),
      );
      const images = await catalogue.imagesOf(request.params.version);
      return {
        firmware: imageView(image, catalogue.servable(image)),
        images: images.map((i) => imageView(i, catalogue.servable(i))),
      };
    },
  );

  app.post('/rollouts', role('admin'), async (request, reply) => {
    const f = asFields(request.body);
    const min = optNumber(f, 'min_outcomes');
    const threshold = optNumber(f, 'failure_threshold');
    const { rollout, counts, generations } = await rollouts.create(
      {
        version: optString(f, 'version') ?? invalid('version', 'required'),
        target: parseTarget(f.target ?? invalid('target', 'required')),
        pinned: optBool(f, 'pinned') ?? false,
        ...(threshold !== undefined ? { failureThreshold: threshold } : {}),
        ...(min !== undefined ? { minOutcomes: min } : {}),
        reason: optString(f, 'reason') ?? null,
      },
      actor(request),
    );
    reply.code(201);
    return { rollout: rolloutView(rollout, counts, generations) };
  });

  app.get('/rollouts', role('viewer'), async () => ({
    rollouts: (await rollouts.list()).map((r) => rolloutView(r.rollout, r.counts, r.generations)),
  }));

  app.get<{ Params: IdParams }>('/rollouts/:id', role('viewer'), async (request) => {
    const r = await rollouts.get(parseId(request.params.id));
    return {
      rollout: rolloutView(r.rollout, r.counts, r.generations),
      sessions: r.sessions.map(sessionView),
    };
  });

  for (const action of ['pause', 'resume', 'abort'] as const satisfies readonly RolloutAction[]) {
    app.post<{ Params: IdParams }>(
      `/rollouts/:id/${action}`,
      role(action === 'abort' ? 'admin' : 'operator'),
      async (request) => {
        const f = asFields(request.body);
        const r = await rollouts.change(
          parseId(request.params.id),
          action,
          actor(request),
          optString(f, 'reason') ?? null,
        );
        return { rollout: rolloutView(r.rollout, r.counts, r.generations) };
      },
    );
  }

  app.get('/rollout-groups', role('viewer'), async () => ({
    groups: Object.fromEntries(await rollouts.groups()),
  }));

  app.put<{ Params: { name: string } }>('/rollout-groups/:name', role('admin'), async (request) => {
    const f = asFields(request.body);
    const devices = await rollouts.setGroup(
      request.params.name,
      stringList(f.devices, 'devices'),
      actor(request),
    );
    return { group: request.params.name, devices };
  });
}

/**
 * `GET /ota/status`. With a viewer's credentials (or better): what the reference served to anyone (each device's
 * latest session, the versions that can be served, rollouts). Without it: the 1.3 firmware's boot
 * probe (PROTOCOL-1.3.md §9): its diagnostics need a 200, so anyone else gets 200 and an empty
 * object, nothing about sessions or versions.
 */
export async function otaStatusRoute(app: FastifyInstance, deps: FirmwareAdminDeps): Promise<void> {
  app.get<{ Querystring: Record<string, string> }>('/ota/status', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const principal = await deps.access.identify(request).catch(() => null);
    if (!principal || !roleAllows(principal.role, 'viewer')) return {};
    const sessions = await deps.ota.sessions(parseLimit('limit', request.query.limit, 1000, 100_000));
    const latest = new Map<string, (typeof sessions)[number]>();
    for (const s of sessions) if (!latest.has(s.deviceId)) latest.set(s.deviceId, s);
    const images = await deps.catalogue.list();
    const servable = images.filter((i) => deps.catalogue.servable(i));
    return {
      active_sessions: [...latest.values()].filter((s) => OPEN_SESSION_STATES.includes(s.state)).length,
      sessions: Object.fromEntries([...latest].map(([id, s]) => [id, sessionView(s)])),
      available_versions: [...new Set(servable.map((i) => i.version))],
      available_images: servable.map((i) => ({ version: i.version, generation: i.generation })),
      rollouts: (await deps.rollouts.list()).map((r) => rolloutView(r.rollout, r.counts, r.generations)),
    };
  });
}
