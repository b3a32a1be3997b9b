/** The admin API under /api: device registry, readings, events, audit, uploads (roles: admin-auth.ts). */
import type { FastifyInstance } from 'fastify';
import { type AdminAccess, actor, requireAccess, role } from '../../http/admin/admin-auth.js';
import {
  asFields,
  invalid,
  optBool,
  optNonce,
  optReplay,
  optString,
  parseLimit,
  parseRegisters,
  parseTime,
} from '../../http/admin/params.js';
import { ApiError } from '../../model/errors.js';
import { decodeCursor } from '../../ports/cursor.js';
import type { Storage } from '../../ports/storage.js';
import { registrationView } from '../device-reports.js';
import type { DeviceService } from '../device-service.js';
import { deviceView, eventView, readingView } from './device-views.js';

export interface AdminDeps {
  storage: Storage;
  devices: DeviceService;
  access: AdminAccess;
}

type IdParams = { id: string };

function optKeyKind(f: Record<string, unknown>, key: string): 'v1' | 'v2' {
  const v = f[key];
  if (v === undefined) return 'v1';
  if (v !== 'v1' && v !== 'v2') invalid(key, 'expected "v1" or "v2"');
  return v;
}

export async function adminRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  requireAccess(app, deps.access);
  const { devices, storage } = deps;

  app.get('/devices', role('viewer'), async () => ({ devices: (await devices.list()).map(deviceView) }));

  app.post('/devices', role('admin'), async (request, reply) => {
    const f = asFields(request.body);
    const id = optString(f, 'id') ?? invalid('id', 'required');
    const replay = optReplay(f, 'replay');
    const allowUnsecured = optBool(f, 'allow_unsecured');
    const requireEncryption = optBool(f, 'require_encryption');
    const allowUnsecuredConfig = optBool(f, 'allow_unsecured_config');
    const requireV2 = optBool(f, 'require_v2');
    const { device, key } = await devices.add(
      {
        id,
        policy: {
          ...(replay ? { replay } : {}),
          ...(allowUnsecured !== undefined ? { allowUnsecured } : {}),
          ...(requireEncryption !== undefined ? { requireEncryption } : {}),
          ...(allowUnsecuredConfig !== undefined ? { allowUnsecuredConfig } : {}),
          ...(requireV2 !== undefined ? { requireV2 } : {}),
          ...(requireV2 !== undefined ? { requireV2 } : {}),
        },
        withKey: optBool(f, 'with_key') ?? false,
        keyKind: optKeyKind(f, 'key_kind'),
        ...(optNonce(f, 'initial_nonce') !== undefined ? { initialNonce: optNonce(f, 'initial_nonce') } : {}),
      },
      actor(request),
    );
    reply.code(201);
    return { device: deviceView(device), ...(key ? { key } : {}) };
  });

  app.get<{ Params: IdParams }>('/devices/:id', role('viewer'), async (request) => {
    const d = await devices.require(request.params.id);
    // What the device reported at boot (POST /devices), pending ones included.
    const [registration] = await storage.listReports(d.id, 'registration', 1);
    return {
      ...deviceView(d),
      registration: registration ? registrationView(registration, d.lastAuthSource) : null,
    };
  });

  app.patch<{ Params: IdParams }>('/devices/:id/policy', role('admin'), async (request) => {
    const f = asFields(request.body);
    const replay = optReplay(f, 'replay');
    const allowUnsecured = optBool(f, 'allow_unsecured');
    const requireEncryption = optBool(f, 'require_encryption');
    const allowUnsecuredConfig = optBool(f, 'allow_unsecured_config');
    const requireV2 = optBool(f, 'require_v2');
    const patch = {
      ...(replay ? { replay } : {}),
      ...(allowUnsecured !== undefined ? { allowUnsecured } : {}),
      ...(requireEncryption !== undefined ? { requireEncryption } : {}),
      ...(allowUnsecuredConfig !== undefined ? { allowUnsecuredConfig } : {}),
      ...(requireV2 !== undefined ? { requireV2 } : {}),
    };
    return deviceView(await devices.setPolicy(request.params.id, patch, actor(request)));
  });

  for (const [action, status] of [
    ['disable', 'disabled'],
    ['enable', 'active'],
  ] as const) {
    app.post<{ Params: IdParams }>(`/devices/:id/${action}`, role('operator'), async (request) => {
      const f = asFields(request.body);
      return deviceView(
        await devices.setStatus(request.params.id, status, actor(request), optString(f, 'reason') ?? null),
      );
    });
  }

  app.post<{ Params: IdParams }>('/devices/:id/keys', role('admin'), async (request, reply) => {
    const f = asFields(request.body);
    const { device, key } = await devices.rotateKey(
      request.params.id,
      actor(request),
      optString(f, 'reason') ?? null,
    );
    reply.code(201);
    return { device: deviceView(device), key };
  });

  app.delete<{ Params: IdParams & { kid: string } }>(
    '/devices/:id/keys/:kid',
    role('admin'),
    async (request) => {
      const f = asFields(request.body);
      const reason = optString(f, 'reason') ?? null;
      return deviceView(
        await devices.retireKey(request.params.id, request.params.kid, actor(request), reason),
      );
    },
  );

  app.post<{ Params: IdParams }>('/devices/:id/replay-reset', role('admin'), async (request) => {
    const f = asFields(request.body);
    const reason = optString(f, 'reason') ?? invalid('reason', 'required: say why the counter is re-armed');
    const to = optNonce(f, 'to') ?? null;
    return deviceView(await devices.resetReplay(request.params.id, reason, actor(request), to));
  });

  app.get<{ Params: IdParams; Querystring: Record<string, string> }>(
    '/devices/:id/readings',
    role('viewer'),
    async (request) => {
      const q = request.query;
      await devices.require(request.params.id);
      const cursor = q.cursor || undefined;
      if (cursor !== undefined && !decodeCursor(cursor)) invalid('cursor', 'not a cursor this API returned');
      const from = parseTime('from', q.from);
      const to = parseTime('to', q.to);
      if (from !== undefined && to !== undefined && from > to) invalid('from', 'must not be after to');
      const registers = parseRegisters('register', q.register);
      const page = await storage.queryReadings(request.params.id, {
        limit: parseLimit('limit', q.limit, 1000, 10_000),
        ...(from !== undefined ? { from } : {}),
        ...(to !== undefined ? { to } : {}),
        ...(registers ? { registers } : {}),
        ...(cursor ? { cursor } : {}),
      });
      return { readings: page.readings.map(readingView), next: page.next };
    },
  );

  app.get<{ Params: IdParams }>('/devices/:id/latest', role('viewer'), async (request) => {
    const d = await devices.require(request.params.id);
    const readings = await storage.latestReadings(d.id);
    return {
      device_id: d.id,
      last_seen: d.lastSeen === null ? null : new Date(d.lastSeen).toISOString(),
      readings: readings.map(readingView),
    };
  });

  app.get<{ Querystring: Record<string, string> }>('/security-events', role('viewer'), async (request) => {
    const q = request.query;
    const before = q.before ? parseLimit('before', q.before, 0, Number.MAX_SAFE_INTEGER) : undefined;
    const since = parseTime('since', q.since);
    const events = await storage.listSecurityEvents({
      limit: parseLimit('limit', q.limit, 100, 1000),
      ...(q.device ? { deviceId: q.device } : {}),
      ...(q.code ? { code: q.code } : {}),
      ...(since !== undefined ? { since } : {}),
      ...(before !== undefined ? { before } : {}),
    });
    return { events: events.map(eventView) };
  });

  app.get<{ Querystring: Record<string, string> }>('/alerts', role('viewer'), async (request) => {
    const q = request.query;
    const events = await storage.listSecurityEvents({
      code: 'alert',
      limit: parseLimit('limit', q.limit, 100, 1000),
      ...(q.device ? { deviceId: q.device } : {}),
    });
    return {
      alerts: events.map((e) => ({
        id: e.id,
        time: new Date(e.time).toISOString(),
        rule: e.reason,
        device_id: e.deviceId,
        ...(e.detail ? { message: e.detail.message, detail: e.detail } : {}),
      })),
    };
  });

  app.get<{ Querystring: Record<string, string> }>('/audit', role('viewer'), async (request) => {
    const q = request.query;
    const entries = await storage.listAudit({
      limit: parseLimit('limit', q.limit, 100, 1000),
      ...(q.device ? { deviceId: q.device } : {}),
    });
    return {
      entries: entries.map((e) => ({
        id: e.id,
        time: new Date(e.time).toISOString(),
        actor: e.actor,
        action: e.action,
        device_id: e.deviceId,
        reason: e.reason,
        ...(e.detail ? { detail: e.detail } : {}),
      })),
    };
  });

  app.get<{ Params: IdParams }>('/uploads/:id', role('viewer'), async (request) => {
    const u = await storage.getUpload(request.params.id);
    if (!u) throw new ApiError('not_found', `No upload "${request.params.id}".`);
    return {
      id: u.id,
      device_id: u.deviceId,
      nonce: u.nonce,
      protocol: u.protocol,
      encrypted: u.encrypted,
      key: u.keyKid,
      received_at: new Date(u.receivedAt).toISOString(),
      source: u.source,
      request_id: u.requestId,
      device_timestamp: u.deviceTimestamp,
      nonce_gap: Math.max(0, u.gap),
      packets: u.packets.map((p) => ({
        index: p.index,
        status: p.duplicate ? 'duplicate' : p.status,
        method: p.method,
        label: p.label,
        device_timestamp: p.deviceTimestamp,
        samples: p.sampleCount,
        bytes: p.bytes,
        ...(p.reason ? { reason: p.reason } : {}),
        notes: p.notes,
      })),
      quarantined: u.packets
        .filter((p) => p.status === 'quarantined')
        .map((p) => ({ index: p.index, reason: p.reason })),
    };
  });
}
