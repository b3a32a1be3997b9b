/**
 * What the web dashboard needs from the admin API and cannot get from the other routes: a fleet
 * summary, a device's uploads, bucketed history for charts, and the live event stream
 * (`GET /api/live`, Server-Sent Events fed by the ingest pipeline).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import type { DeviceService } from '../../devices/device-service.js';
import { adminApi } from '../../http/admin/admin-api.js';
import { type AdminAccess, authorize, role } from '../../http/admin/admin-auth.js';
import { errorAnswers, IdParams } from '../../http/api-schemas.js';
import { registersFromQuery, timeFromQuery } from '../../http/query-values.js';
import type { Device } from '../../model/device.js';
import { ApiError, invalidParameter } from '../../model/errors.js';
import type { Reading, Storage, StoredUpload } from '../../ports/storage.js';
import { REGISTERS, registerById, scaleRaw } from '../../protocol/registers.js';
import { expectedInterval, linkStatus } from '../cadence.js';
import { type FleetTracker, type LatestValue, PAC } from '../fleet-tracker.js';
import type { LiveHub } from '../live-hub.js';
import type { LiveTickets } from '../live-ticket.js';
import {
  type FleetRowView,
  FleetView,
  type LatestView,
  LiveQuery,
  LiveStream,
  LiveTicketView,
  SeriesQuery,
  SeriesView,
  type UploadSummaryView,
  UploadsQuery,
  UploadsView,
} from './dashboard-schemas.js';

export interface DashboardDeps {
  storage: Storage;
  devices: DeviceService;
  access: AdminAccess;
  tracker: FleetTracker;
  hub: LiveHub;
  tickets: LiveTickets<LiveHolder>;
}

/** Who asked for a live ticket, and how to tell they still may watch. */
export interface LiveHolder {
  stillAllowed(): Promise<boolean>;
}

const DAY_MS = 86_400_000;
/** Longest history one chart request may cover. */
export const MAX_SERIES_SPAN_MS = 35 * DAY_MS;
const SERIES_PAGE = 10_000;

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

export function latestView(v: LatestValue): Static<typeof LatestView> {
  const reg = registerById(v.register);
  return {
    register: reg?.name ?? `reg${v.register}`,
    reg_id: v.register,
    time: new Date(v.time).toISOString(),
    raw: v.raw,
    value: reg ? scaleRaw(reg, v.raw) : v.raw,
    unit: reg?.unit ?? null,
    quality: v.quality,
  };
}

export function uploadSummaryView(u: StoredUpload): Static<typeof UploadSummaryView> {
  const methods: Record<string, number> = {};
  for (const p of u.packets) {
    const m = p.method ?? 'none';
    methods[m] = (methods[m] ?? 0) + 1;
  }
  return {
    id: u.id,
    received_at: new Date(u.receivedAt).toISOString(),
    nonce: u.nonce,
    protocol: u.protocol,
    encrypted: u.encrypted,
    key: u.keyKid,
    source: u.source,
    nonce_gap: Math.max(0, u.gap),
    packets: u.packets.length,
    samples: u.packets.reduce((n, p) => n + (p.duplicate ? 0 : p.sampleCount), 0),
    duplicates: u.packets.filter((p) => p.duplicate).length,
    methods,
    quarantined: u.packets
      .filter((p) => p.status === 'quarantined')
      .map((p) => ({ index: p.index, reason: p.reason })),
  };
}

export type FleetRow = Static<typeof FleetRowView>;

interface SeriesOut {
  time: number[];
  values: (number | null)[][];
  /** Per value: 0 exact, 1 some approximate value in the bucket, 2 some ambiguous value. */
  flags: number[][];
}

/** Averages readings into buckets of `bucketMs` from `from`; a gap in the data becomes a null row. */
export function bucketReadings(
  readings: Iterable<Reading>,
  registers: readonly number[],
  from: number,
  bucketMs: number,
  buckets: number,
): SeriesOut {
  const n = registers.length;
  const col = new Map(registers.map((r, i) => [r, i]));
  const sum = new Float64Array(buckets * n);
  const count = new Uint32Array(buckets * n);
  const flag = new Uint8Array(buckets * n);
  const tSum = new Float64Array(buckets);
  const tCount = new Uint32Array(buckets);
  for (const r of readings) {
    const c = col.get(r.register);
    const b = Math.floor((r.time - from) / bucketMs);
    if (c === undefined || r.raw === null || b < 0 || b >= buckets) continue;
    const reg = registerById(r.register);
    const k = b * n + c;
    sum[k] += reg ? scaleRaw(reg, r.raw) : r.raw;
    count[k]++;
    flag[k] = Math.max(flag[k], r.quality === 'ambiguous' ? 2 : r.quality === 'approximate' ? 1 : 0);
    tSum[b] += r.time;
    tCount[b]++;
  }
  const out: SeriesOut = { time: [], values: registers.map(() => []), flags: registers.map(() => []) };
  const gapMs = Math.max(3 * bucketMs, 120_000);
  let last: number | null = null;
  for (let b = 0; b < buckets; b++) {
    if (tCount[b] === 0) continue;
    const t = Math.round(tSum[b] / tCount[b]);
    if (last !== null && t - last > gapMs) {
      out.time.push(last + 1);
      for (let c = 0; c < n; c++) {
        out.values[c].push(null);
        out.flags[c].push(0);
      }
    }
    out.time.push(t);
    for (let c = 0; c < n; c++) {
      const k = b * n + c;
      out.values[c].push(count[k] ? Number((sum[k] / count[k]).toFixed(3)) : null);
      out.flags[c].push(flag[k]);
    }
    last = t;
  }
  return out;
}

export async function dashboardRoutes(app: FastifyInstance, deps: DashboardDeps): Promise<void> {
  const { storage, devices, tracker, hub, tickets, access } = deps;
  /** Whether the credentials of `request` still allow watching (checked at each heartbeat). */
  const stillAllowed = (request: FastifyRequest) => {
    const credentials = { headers: { ...request.headers }, method: 'GET' };
    return async () => (await access.identify(credentials, { keepAlive: false }).catch(() => null)) !== null;
  };
  const device = errorAnswers('not_found');

  // The live stream: a session cookie, a bearer credential, or (EventSource cannot send headers)
  // a ticket from POST /api/live/ticket; it closes once those credentials no longer hold.
  app.withTypeProvider<TypeBoxTypeProvider>().get(
    '/live',
    {
      ...role('viewer'),
      schema: {
        summary: 'The live stream of uploads and security events',
        querystring: LiveQuery,
        response: {
          200: LiveStream,
          ...errorAnswers('unauthorized', 'forbidden', 'rate_limited'),
        },
      },
    },
    async (request, reply) => {
      const holder = request.query.ticket !== undefined ? tickets.redeem(request.query.ticket) : null;
      if (!holder) await authorize(access, request);
      if (hub.full) throw new ApiError('rate_limited', 'Too many live streams are open.');
      reply.hijack();
      hub.attach(
        reply.raw,
        { server_time: new Date().toISOString() },
        holder?.stillAllowed ?? stillAllowed(request),
      );
    },
  );

  await app.register(async (plugin) => {
    const api = adminApi(plugin, access);

    api.post(
      '/live/ticket',
      {
        ...role('viewer'),
        schema: {
          summary: 'A short-lived ticket for the live stream',
          response: { 200: LiveTicketView, ...errorAnswers() },
        },
      },
      async (request) => {
        const { ticket, expiresAt } = tickets.issue(Date.now(), { stillAllowed: stillAllowed(request) });
        return { ticket, expires_at: new Date(expiresAt).toISOString() };
      },
    );

    api.get(
      '/dashboard/fleet',
      {
        ...role('viewer'),
        schema: {
          summary: 'The fleet at a glance: link status, power, energy and badges of every device',
          response: { 200: FleetView, ...errorAnswers() },
        },
      },
      async () => {
        const now = Date.now();
        const list = await devices.list();
        const since = now - DAY_MS;
        const events = await storage.listSecurityEvents({ since, limit: 1000 });
        const eventsByDevice = new Map<string, number>();
        for (const e of events) {
          if (e.deviceId !== null) eventsByDevice.set(e.deviceId, (eventsByDevice.get(e.deviceId) ?? 0) + 1);
        }
        const rows: FleetRow[] = [];
        for (const d of list) rows.push(await fleetRow(d, now, eventsByDevice.get(d.id) ?? 0));
        const count = (link: string) => rows.filter((r) => r.status === 'active' && r.link === link).length;
        return {
          server_time: new Date(now).toISOString(),
          devices: rows,
          totals: {
            devices: rows.length,
            online: count('online'),
            late: count('late'),
            offline: count('offline'),
            never: count('never'),
            disabled: rows.filter((r) => r.status === 'disabled').length,
            power_w: rows.reduce((w, r) => w + (r.link === 'online' && r.power ? r.power.value : 0), 0),
            energy_today_wh: Number(rows.reduce((wh, r) => wh + r.energy_today_wh, 0).toFixed(1)),
            security_events_24h: events.length,
          },
        };
      },
    );

    async function fleetRow(d: Device, now: number, events24h: number): Promise<FleetRow> {
      const interval = expectedInterval(tracker.recentIntervals(d.id), {
        firstSeen: d.firstSeen,
        lastSeen: d.lastSeen,
        uploads: d.counters.uploads,
      });
      const latest = d.lastSeen === null ? [] : await tracker.latest(d.id);
      const pac = latest.find((v) => v.register === PAC);
      const rejects = Object.values(d.counters.rejects).reduce((a, b) => a + b, 0);
      return {
        id: d.id,
        status: d.status,
        link: linkStatus(d.lastSeen, interval, now),
        interval_ms: interval,
        last_seen: iso(d.lastSeen),
        last_source: d.lastSource,
        generation: d.generation,
        power: pac ? latestView(pac) : null,
        energy_today_wh: d.lastSeen === null ? 0 : Number((await tracker.energyToday(d.id, now)).toFixed(1)),
        uploads: d.counters.uploads,
        readings: d.counters.readings,
        quality: {
          quarantined_packets: d.counters.quarantinedPackets,
          duplicate_packets: d.counters.duplicatePackets,
          nonce_gaps: d.counters.nonceGaps,
          approximate_latest: latest.filter((v) => v.quality === 'approximate').length,
          ambiguous_latest: latest.filter((v) => v.quality === 'ambiguous').length,
        },
        security: { rejects, events_24h: events24h },
      };
    }

    api.get(
      '/devices/:id/uploads',
      {
        ...role('viewer'),
        schema: {
          summary: "A device's uploads, newest first",
          params: IdParams,
          querystring: UploadsQuery,
          response: { 200: UploadsView, ...device },
        },
      },
      async (request) => {
        const d = await devices.require(request.params.id);
        const limit = request.query.limit ?? 20;
        const before = request.query.before || undefined;
        const uploads = await storage.listUploads(d.id, { limit, ...(before ? { before } : {}) });
        return {
          uploads: uploads.map(uploadSummaryView),
          next: uploads.length === limit ? uploads[uploads.length - 1].id : null,
        };
      },
    );

    api.get(
      '/devices/:id/series',
      {
        ...role('viewer'),
        schema: {
          summary: "A device's readings averaged into buckets, for charts",
          description: 'From `from` (default: an hour before `to`) to `to` (default: now), at most 35 days.',
          params: IdParams,
          querystring: SeriesQuery,
          response: { 200: SeriesView, ...device },
        },
      },
      async (request) => {
        const d = await devices.require(request.params.id);
        const q = request.query;
        const to = timeFromQuery('to', q.to) ?? Date.now();
        const from = timeFromQuery('from', q.from) ?? to - 3_600_000;
        if (from >= to) invalidParameter('from', 'must be before to');
        if (to - from > MAX_SERIES_SPAN_MS) invalidParameter('from', 'at most 35 days before to');
        const points = q.points ?? 720;
        const registers = registersFromQuery('register', q.register) ?? REGISTERS.map((r) => r.id);
        const bucketMs = Math.max(1000, Math.ceil((to - from) / points));
        const buckets = Math.ceil((to - from) / bucketMs) + 1;
        const pages = async function* (): AsyncGenerator<Reading> {
          let cursor: string | undefined;
          do {
            const page = await storage.queryReadings(d.id, {
              from,
              to,
              registers,
              limit: SERIES_PAGE,
              ...(cursor ? { cursor } : {}),
            });
            yield* page.readings;
            cursor = page.next ?? undefined;
          } while (cursor);
        };
        const all: Reading[] = [];
        for await (const r of pages()) all.push(r);
        const series = bucketReadings(all, registers, from, bucketMs, buckets);
        return {
          device_id: d.id,
          from: new Date(from).toISOString(),
          to: new Date(to).toISOString(),
          bucket_ms: bucketMs,
          registers: registers.map((id) => {
            const r = registerById(id);
            return { reg_id: id, register: r?.name ?? `reg${id}`, unit: r?.unit ?? null };
          }),
          ...series,
        };
      },
    );
  });
}
