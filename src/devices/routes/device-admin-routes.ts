/** The admin API under /api: device registry, readings, events, audit, uploads (roles: admin-auth.ts). */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { adminApi } from '../../http/admin/admin-api.js';
import { type AdminAccess, actor, role } from '../../http/admin/admin-auth.js';
import { errorAnswers, IdParams } from '../../http/api-schemas.js';
import { registersFromQuery, timeFromQuery } from '../../http/query-values.js';
import type { DevicePolicy } from '../../model/device.js';
import { ApiError, invalidParameter } from '../../model/errors.js';
import { REPLAY_MODE_EXPECTED, readReplayMode } from '../../model/replay.js';
import { decodeCursor } from '../../ports/cursor.js';
import type { Storage } from '../../ports/storage.js';
import { registrationView } from '../device-reports.js';
import type { DeviceService } from '../device-service.js';
import {
  AddDeviceBody,
  AddedDevice,
  AuditReasonBody,
  DeviceDetailView,
  DeviceView,
  DeviceWithKey,
  KeyParams,
  PolicyBody,
  ReplayResetBody,
} from './device-schemas.js';
import { alertView, auditEntryView, deviceView, eventView, readingView, uploadView } from './device-views.js';
import {
  Alerts,
  AlertsQuery,
  AuditLog,
  AuditQuery,
  SecurityEvents,
  SecurityEventsQuery,
} from './event-schemas.js';
import { LatestReadings, ReadingsPage, ReadingsQuery, UploadView } from './reading-schemas.js';

export interface AdminDeps {
  storage: Storage;
  devices: DeviceService;
  access: AdminAccess;
}

/** The policy fields a body sets, as the device model names them; absent ones stay as they are. */
function policyPatch(body: {
  replay?: string;
  allow_unsecured?: boolean;
  require_encryption?: boolean;
  allow_unsecured_config?: boolean;
  require_v2?: boolean;
}): Partial<DevicePolicy> {
  // Its spellings (`window=N`, any case) are the settings' too, so the domain reads it.
  const replay =
    body.replay === undefined
      ? undefined
      : (readReplayMode(body.replay) ?? invalidParameter('replay', REPLAY_MODE_EXPECTED));
  return {
    ...(replay ? { replay } : {}),
    ...(body.allow_unsecured !== undefined ? { allowUnsecured: body.allow_unsecured } : {}),
    ...(body.require_encryption !== undefined ? { requireEncryption: body.require_encryption } : {}),
    ...(body.allow_unsecured_config !== undefined
      ? { allowUnsecuredConfig: body.allow_unsecured_config }
      : {}),
    ...(body.require_v2 !== undefined ? { requireV2: body.require_v2 } : {}),
  };
}

export async function adminRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  const api = adminApi(app, deps.access);
  const { devices, storage } = deps;
  const device = errorAnswers('not_found');

  api.get(
    '/devices',
    {
      ...role('viewer'),
      schema: {
        summary: 'Every registered device',
        response: { 200: Type.Object({ devices: Type.Array(DeviceView) }), ...errorAnswers() },
      },
    },
    async () => ({ devices: (await devices.list()).map(deviceView) }),
  );

  api.post(
    '/devices',
    {
      ...role('admin'),
      schema: {
        summary: 'Register a device',
        description:
          'On the fleet key, or with a key of its own (`with_key`, or `key_kind: "v2"`): its material is in this answer only.',
        body: AddDeviceBody,
        response: { 201: AddedDevice, ...errorAnswers('conflict') },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const { device, key } = await devices.add(
        {
          id: b.id,
          policy: policyPatch(b),
          withKey: b.with_key ?? false,
          keyKind: b.key_kind ?? 'v1',
          ...(b.initial_nonce !== undefined ? { initialNonce: b.initial_nonce } : {}),
        },
        actor(request),
      );
      reply.code(201);
      return { device: deviceView(device), ...(key ? { key } : {}) };
    },
  );

  api.get(
    '/devices/:id',
    {
      ...role('viewer'),
      schema: {
        summary: 'A device, with what it reported at boot',
        params: IdParams,
        response: { 200: DeviceDetailView, ...device },
      },
    },
    async (request) => {
      const d = await devices.require(request.params.id);
      const [registration] = await storage.listReports(d.id, 'registration', 1);
      return {
        ...deviceView(d),
        registration: registration ? registrationView(registration, d.lastAuthSource) : null,
      };
    },
  );

  api.patch(
    '/devices/:id/policy',
    {
      ...role('admin'),
      schema: {
        summary: "Change a device's policy",
        description: 'Fields left out keep their value.',
        params: IdParams,
        body: PolicyBody,
        response: { 200: DeviceView, ...device },
      },
    },
    async (request) =>
      deviceView(await devices.setPolicy(request.params.id, policyPatch(request.body), actor(request))),
  );

  for (const [action, status] of [
    ['disable', 'disabled'],
    ['enable', 'active'],
  ] as const) {
    api.post(
      `/devices/:id/${action}`,
      {
        ...role('operator'),
        schema: {
          summary: action === 'disable' ? 'Disable a device: its requests are refused' : 'Enable a device',
          params: IdParams,
          body: AuditReasonBody,
          response: { 200: DeviceView, ...device },
        },
      },
      async (request) =>
        deviceView(
          await devices.setStatus(request.params.id, status, actor(request), request.body.reason ?? null),
        ),
    );
  }

  api.post(
    '/devices/:id/keys',
    {
      ...role('admin'),
      schema: {
        summary: 'Add a key to a device (a key rotation)',
        description:
          'The old key stays valid until the device uses the new one. The material is in this answer only.',
        params: IdParams,
        body: AuditReasonBody,
        response: { 201: DeviceWithKey, ...errorAnswers('not_found', 'conflict') },
      },
    },
    async (request, reply) => {
      const { device, key } = await devices.rotateKey(
        request.params.id,
        actor(request),
        request.body.reason ?? null,
      );
      reply.code(201);
      return { device: deviceView(device), key };
    },
  );

  api.delete(
    '/devices/:id/keys/:kid',
    {
      ...role('admin'),
      schema: {
        summary: "Retire a device's key at once (e.g. compromised)",
        params: KeyParams,
        body: AuditReasonBody,
        response: { 200: DeviceView, ...errorAnswers('not_found', 'conflict') },
      },
    },
    async (request) =>
      deviceView(
        await devices.retireKey(
          request.params.id,
          request.params.kid,
          actor(request),
          request.body.reason ?? null,
        ),
      ),
  );

  api.post(
    '/devices/:id/replay-reset',
    {
      ...role('admin'),
      schema: {
        summary: "Re-arm a device's replay counter (its nonce was wiped)",
        params: IdParams,
        body: ReplayResetBody,
        response: { 200: DeviceView, ...device },
      },
    },
    async (request) =>
      deviceView(
        await devices.resetReplay(
          request.params.id,
          request.body.reason,
          actor(request),
          request.body.to ?? null,
        ),
      ),
  );

  api.get(
    '/devices/:id/readings',
    {
      ...role('viewer'),
      schema: {
        summary: "A device's readings, oldest first, a page at a time",
        params: IdParams,
        querystring: ReadingsQuery,
        response: { 200: ReadingsPage, ...device },
      },
    },
    async (request) => {
      const q = request.query;
      await devices.require(request.params.id);
      const cursor = q.cursor || undefined;
      if (cursor !== undefined && !decodeCursor(cursor))
        invalidParameter('cursor', 'not a cursor this API returned');
      const from = timeFromQuery('from', q.from);
      const to = timeFromQuery('to', q.to);
      if (from !== undefined && to !== undefined && from > to)
        invalidParameter('from', 'must not be after to');
      const registers = registersFromQuery('register', q.register);
      const page = await storage.queryReadings(request.params.id, {
        limit: q.limit ?? 1000,
        ...(from !== undefined ? { from } : {}),
        ...(to !== undefined ? { to } : {}),
        ...(registers ? { registers } : {}),
        ...(cursor ? { cursor } : {}),
      });
      return { readings: page.readings.map(readingView), next: page.next };
    },
  );

  api.get(
    '/devices/:id/latest',
    {
      ...role('viewer'),
      schema: {
        summary: "A device's latest reading of each register",
        params: IdParams,
        response: { 200: LatestReadings, ...device },
      },
    },
    async (request) => {
      const d = await devices.require(request.params.id);
      const readings = await storage.latestReadings(d.id);
      return {
        device_id: d.id,
        last_seen: d.lastSeen === null ? null : new Date(d.lastSeen).toISOString(),
        readings: readings.map(readingView),
      };
    },
  );

  api.get(
    '/security-events',
    {
      ...role('viewer'),
      schema: {
        summary: 'Security events, newest first',
        querystring: SecurityEventsQuery,
        response: { 200: SecurityEvents, ...errorAnswers() },
      },
    },
    async (request) => {
      const q = request.query;
      const since = timeFromQuery('since', q.since);
      const events = await storage.listSecurityEvents({
        limit: q.limit ?? 100,
        ...(q.device ? { deviceId: q.device } : {}),
        ...(q.code ? { code: q.code } : {}),
        ...(since !== undefined ? { since } : {}),
        ...(q.before !== undefined ? { before: q.before } : {}),
      });
      return { events: events.map(eventView) };
    },
  );

  api.get(
    '/alerts',
    {
      ...role('viewer'),
      schema: {
        summary: 'Alerts, newest first',
        querystring: AlertsQuery,
        response: { 200: Alerts, ...errorAnswers() },
      },
    },
    async (request) => {
      const q = request.query;
      const events = await storage.listSecurityEvents({
        code: 'alert',
        limit: q.limit ?? 100,
        ...(q.device ? { deviceId: q.device } : {}),
      });
      return { alerts: events.map(alertView) };
    },
  );

  api.get(
    '/audit',
    {
      ...role('viewer'),
      schema: {
        summary: 'The audit log of administrative actions, newest first',
        querystring: AuditQuery,
        response: { 200: AuditLog, ...errorAnswers() },
      },
    },
    async (request) => {
      const q = request.query;
      const entries = await storage.listAudit({
        limit: q.limit ?? 100,
        ...(q.device ? { deviceId: q.device } : {}),
      });
      return { entries: entries.map(auditEntryView) };
    },
  );

  api.get(
    '/uploads/:id',
    {
      ...role('viewer'),
      schema: {
        summary: 'A stored upload and its packets',
        params: IdParams,
        response: { 200: UploadView, ...errorAnswers('not_found') },
      },
    },
    async (request) => {
      const u = await storage.getUpload(request.params.id);
      if (!u) throw new ApiError('not_found', `No upload "${request.params.id}".`);
      return uploadView(u);
    },
  );
}
