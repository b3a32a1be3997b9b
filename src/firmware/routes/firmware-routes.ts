/**
 * The firmware admin API under /api (roles: http/admin/admin-auth.ts): the catalogue (`POST /api/firmware` takes the
 * image as a streamed `application/octet-stream` body, for one firmware generation), rollouts
 * and their groups; and `GET /ota/status`: the reference server's session list for the
 * administrator, and the 1.3 firmware's boot probe (a bare 200) for everyone else.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import { adminApi } from '../../http/admin/admin-api.js';
import { type AdminAccess, actor, role } from '../../http/admin/admin-auth.js';
import { deviceProtocol, errorAnswers, IdParams } from '../../http/api-schemas.js';
import { GENERATIONS, type Generation } from '../../model/device.js';
import { ApiError, invalidParameter } from '../../model/errors.js';
import { type FirmwareImage, OPEN_SESSION_STATES, type RolloutTarget } from '../../model/firmware.js';
import { roleAllows } from '../../model/operator.js';
import type { RolloutAction } from '../../ports/firmware-store.js';
import type { FirmwareCatalogue } from '../firmware-catalogue.js';
import { DEFAULT_GENERATION } from '../firmware-keys.js';
import type { OtaService } from '../ota-service.js';
import type { RolloutService } from '../rollout-service.js';
import {
  AddedImage,
  AddImageQuery,
  CatalogueView,
  CreateRolloutBody,
  GroupBody,
  GroupParams,
  Groups,
  GroupView,
  ImageBody,
  OneRollout,
  OtaStatusQuery,
  OtaStatusView,
  ReasonBody,
  Rollouts,
  RolloutWithSessions,
  STATUS_SESSIONS_MAX,
  VersionParams,
  VersionQuery,
  VersionView,
} from './firmware-schemas.js';
import { imageView, rolloutView, sessionView } from './firmware-views.js';

export interface FirmwareAdminDeps {
  catalogue: FirmwareCatalogue;
  rollouts: RolloutService;
  ota: OtaService;
  access: AdminAccess;
}

/** `"all"`, or the object of its kind; which fields a kind needs is only known here. */
function rolloutTarget(t: Static<typeof CreateRolloutBody>['target']): RolloutTarget {
  if (t === 'all') return { kind: 'all' };
  switch (t.kind) {
    case 'all':
      return { kind: 'all' };
    case 'group':
      return { kind: 'group', group: t.group ?? invalidParameter('target.group', 'required') };
    case 'devices':
      return { kind: 'devices', devices: t.devices ?? invalidParameter('target.devices', 'required') };
    case 'percentage': {
      const wait = t.step_wait_seconds;
      return {
        kind: 'percentage',
        steps: t.steps ?? [],
        // NaN: the service's default wait.
        stepWaitMs: wait === undefined || wait === null ? Number.NaN : wait * 1000,
      };
    }
  }
}

/** Rollout ids are numbers: any other id names no rollout, as a missing one does. */
function rolloutId(v: string): number {
  if (!/^\d{1,12}$/.test(v)) throw new ApiError('not_found', `No rollout ${v}.`);
  return Number(v);
}

/**
 * The image is refused by its content type before its query is read, as the route always did: a
 * client sending JSON learns that first.
 */
async function requireImageBody(request: FastifyRequest): Promise<void> {
  const type = request.headers['content-type'] ?? '';
  if (!/^application\/octet-stream\s*(?:;|$)/i.test(type)) {
    throw new ApiError('unsupported_media_type', 'Send the image as application/octet-stream.');
  }
}

export async function firmwareAdminRoutes(app: FastifyInstance, deps: FirmwareAdminDeps): Promise<void> {
  const { catalogue, rollouts } = deps;
  const api = adminApi(app, deps.access);
  // The image streams through the sealer; it is never buffered whole by a body parser.
  api.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
  const view = (i: FirmwareImage) => imageView(i, catalogue.servable(i));

  api.post(
    '/firmware',
    {
      ...role('admin'),
      preValidation: requireImageBody,
      schema: {
        summary: 'Add a firmware image to the catalogue',
        description:
          "The image is streamed as `application/octet-stream` (at most `firmwareMaxBytes`): hashed, signed and encrypted under its generation's keys as it arrives, so the plaintext is never stored. An image whose first byte is not the ESP32 magic `0xE9` is refused unless `force`d.",
        querystring: AddImageQuery,
        body: ImageBody,
        response: {
          201: AddedImage,
          ...errorAnswers(
            'unsupported_media_type',
            'invalid_firmware',
            'payload_too_large',
            'conflict',
            'firmware_keys_missing',
          ),
        },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const length = Number(request.headers['content-length']);
      const image = await catalogue.add({
        version: q.version,
        generation: q.generation ?? DEFAULT_GENERATION,
        notes: q.notes ? q.notes.slice(0, 1000) : null,
        force: q.force === 'true' || q.force === '1',
        // The stream the octet-stream parser above hands on.
        source: request.body as AsyncIterable<Uint8Array>,
        ...(Number.isSafeInteger(length) ? { declaredSize: length } : {}),
        actor: actor(request),
      });
      reply.code(201);
      return { firmware: view(image) };
    },
  );

  api.get(
    '/firmware',
    {
      ...role('viewer'),
      schema: {
        summary: 'The firmware catalogue and key sets',
        response: { 200: CatalogueView, ...errorAnswers() },
      },
    },
    async () => {
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
        firmware: (await catalogue.list()).map(view),
      };
    },
  );

  api.get(
    '/firmware/:version',
    {
      ...role('viewer'),
      schema: {
        summary: "A catalogued version: one generation's image and every generation's",
        description: 'The image of `?generation=` (default the first: e84f720), and `images`: all of them.',
        params: VersionParams,
        querystring: VersionQuery,
        response: { 200: VersionView, ...errorAnswers('not_found') },
      },
    },
    async (request) => {
      const image = await catalogue.require(request.params.version, request.query.generation);
      const images = await catalogue.imagesOf(request.params.version);
      return { firmware: view(image), images: images.map(view) };
    },
  );

  api.post(
    '/rollouts',
    {
      ...role('admin'),
      schema: {
        summary: 'Start a rollout of a catalogued version',
        description:
          'Each device is offered the image of the version for its own generation. A rollout halts itself when failed / (failed + succeeded) passes `failure_threshold` once `min_outcomes` are known.',
        body: CreateRolloutBody,
        response: {
          201: OneRollout,
          ...errorAnswers('not_found', 'conflict', 'firmware_keys_missing'),
        },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const threshold = b.failure_threshold ?? undefined;
      const min = b.min_outcomes ?? undefined;
      const { rollout, counts, generations } = await rollouts.create(
        {
          version: b.version,
          target: rolloutTarget(b.target),
          pinned: b.pinned ?? false,
          ...(threshold !== undefined ? { failureThreshold: threshold } : {}),
          ...(min !== undefined ? { minOutcomes: min } : {}),
          reason: b.reason ?? null,
        },
        actor(request),
      );
      reply.code(201);
      return { rollout: rolloutView(rollout, counts, generations) };
    },
  );

  api.get(
    '/rollouts',
    {
      ...role('viewer'),
      schema: { summary: 'Every rollout', response: { 200: Rollouts, ...errorAnswers() } },
    },
    async () => ({
      rollouts: (await rollouts.list()).map((r) => rolloutView(r.rollout, r.counts, r.generations)),
    }),
  );

  api.get(
    '/rollouts/:id',
    {
      ...role('viewer'),
      schema: {
        summary: 'A rollout with its device sessions',
        params: IdParams,
        response: { 200: RolloutWithSessions, ...errorAnswers('not_found') },
      },
    },
    async (request) => {
      const r = await rollouts.get(rolloutId(request.params.id));
      return {
        rollout: rolloutView(r.rollout, r.counts, r.generations),
        sessions: r.sessions.map(sessionView),
      };
    },
  );

  const ACTIONS = {
    pause: 'Pause a rollout: downloads in progress finish, none start',
    resume: 'Resume a paused or halted rollout (a halt counts outcomes afresh)',
    abort: 'Abort a rollout: its sessions in progress are cancelled',
  } as const satisfies Record<RolloutAction, string>;
  for (const [action, summary] of Object.entries(ACTIONS) as [RolloutAction, string][]) {
    api.post(
      `/rollouts/:id/${action}`,
      {
        ...role(action === 'abort' ? 'admin' : 'operator'),
        schema: {
          summary,
          params: IdParams,
          body: ReasonBody,
          response: { 200: OneRollout, ...errorAnswers('not_found', 'conflict') },
        },
      },
      async (request) => {
        const r = await rollouts.change(
          rolloutId(request.params.id),
          action,
          actor(request),
          request.body.reason ?? null,
        );
        return { rollout: rolloutView(r.rollout, r.counts, r.generations) };
      },
    );
  }

  api.get(
    '/rollout-groups',
    {
      ...role('viewer'),
      schema: { summary: 'Rollout groups and their members', response: { 200: Groups, ...errorAnswers() } },
    },
    async () => ({ groups: Object.fromEntries(await rollouts.groups()) }),
  );

  api.put(
    '/rollout-groups/:name',
    {
      ...role('admin'),
      schema: {
        summary: "Set a rollout group's members (an empty list deletes it)",
        params: GroupParams,
        body: GroupBody,
        response: { 200: GroupView, ...errorAnswers() },
      },
    },
    async (request) => {
      const devices = await rollouts.setGroup(request.params.name, request.body.devices, actor(request));
      return { group: request.params.name, devices };
    },
  );
}

/** `?limit=` of the session list; only read for a caller who is shown it. */
function statusLimit(v: unknown): number {
  if (v === undefined || v === '') return 1000;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > STATUS_SESSIONS_MAX)
    invalidParameter('limit', `expected an integer from 1 to ${STATUS_SESSIONS_MAX}`);
  return n;
}

/**
 * `GET /ota/status`. With a viewer's credentials (or better): what the reference served to anyone (each device's
 * latest session, the versions that can be served, rollouts). Without it: the 1.3 firmware's boot
 * probe (PROTOCOL-1.3.md §9): its diagnostics need a 200, so anyone else gets 200 and an empty
 * object, nothing about sessions or versions. A device route: its answers stay exactly as they
 * were (a bad `limit` only matters to a caller who is shown sessions).
 */
export async function otaStatusRoute(app: FastifyInstance, deps: FirmwareAdminDeps): Promise<void> {
  app.get<{ Querystring: Record<string, unknown> }>(
    '/ota/status',
    {
      ...deviceProtocol,
      schema: {
        summary: "Update sessions and servable versions; the 1.3 firmware's boot probe",
        description:
          "With a viewer's credentials or better (bearer or session cookie): each device's latest session, the versions and images that can be served, and the rollouts. Without them: `200 {}`, which the 1.3 firmware needs after a boot (PROTOCOL-1.3.md §9). Never cached.",
        querystring: OtaStatusQuery,
        response: { 200: OtaStatusView, ...errorAnswers('rate_limited') },
      },
    },
    async (request, reply): Promise<Static<typeof OtaStatusView>> => {
      reply.header('cache-control', 'no-store');
      const principal = await deps.access.identify(request).catch(() => null);
      if (!principal || !roleAllows(principal.role, 'viewer')) return {};
      const sessions = await deps.ota.sessions(statusLimit(request.query.limit));
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
    },
  );
}
