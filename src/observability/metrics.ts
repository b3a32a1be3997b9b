/**
 * Prometheus metrics (prom-client). Counters are fed by the ingest pipeline's listeners, request
 * latency by a Fastify hook, and gauges that need storage are read when scraped.
 *
 * No label takes a device id: the number of series stays the same whatever the fleet's size
 * (Prometheus keeps every series it has seen). Per-device figures are in the API.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { isErrorCode } from '../model/errors.js';
import type { DeviceActivity, SecurityEvent, Storage } from '../ports/storage.js';
import type { CommittedUpload, UploadFeed } from '../ports/upload-feed.js';
import type { SecurityEvents } from './security-events.js';

export class Metrics {
  readonly registry = new Registry();
  private readonly uploads: Counter<'protocol'>;
  private readonly rejections: Counter<'code' | 'reason'>;
  private readonly events: Counter<'code'>;
  private readonly packets: Counter<'method' | 'status'>;
  private readonly readings: Counter<'quality'>;
  private readonly nonceGaps: Counter;
  private readonly unsecuredControlRequests: Counter<'generation'>;
  private readonly http: Histogram<'route' | 'method' | 'status'>;

  constructor(storage: Storage) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'ecowatt_process_' });
    this.uploads = new Counter({
      name: 'ecowatt_uploads_accepted_total',
      help: 'Uploads durably stored',
      labelNames: ['protocol'],
      registers,
    });
    this.rejections = new Counter({
      name: 'ecowatt_uploads_rejected_total',
      help: 'Device requests refused, by error code and reason (MAC failures, replays, policy …)',
      labelNames: ['code', 'reason'],
      registers,
    });
    this.events = new Counter({
      name: 'ecowatt_events_total',
      help: 'Security and data-quality events',
      labelNames: ['code'],
      registers,
    });
    this.packets = new Counter({
      name: 'ecowatt_packets_total',
      help: 'Packets received, by wire format and outcome (decoded, quarantined, duplicate)',
      labelNames: ['method', 'status'],
      registers,
    });
    this.readings = new Counter({
      name: 'ecowatt_readings_total',
      help: 'Decoded values stored, by quality',
      labelNames: ['quality'],
      registers,
    });
    this.nonceGaps = new Counter({
      name: 'ecowatt_nonce_gap_uploads_total',
      help: 'Uploads never received, from nonce gaps (per device: GET /api/devices/<id>)',
      registers,
    });
    this.unsecuredControlRequests = new Counter({
      name: 'ecowatt_unsecured_control_requests_total',
      help: 'Unsigned control requests accepted (config, commands, firmware), by firmware generation; per device in the device counters',
      labelNames: ['generation'],
      registers,
    });
    const activity = fleetActivity(storage);
    new Gauge({
      name: 'ecowatt_devices',
      help: 'Registered devices',
      registers,
      async collect() {
        const a = await activity().catch(() => undefined); // a scrape still answers with the database down
        if (a) this.set(a.total);
      },
    });
    new Gauge({
      name: 'ecowatt_devices_never_uploaded',
      help: 'Registered devices with no accepted upload yet',
      registers,
      async collect() {
        const a = await activity().catch(() => undefined);
        if (a) this.set(a.never);
      },
    });
    new Gauge({
      name: 'ecowatt_devices_uploaded_within',
      help: 'Devices whose last accepted upload is at most `window` old (a cumulative histogram of upload age)',
      labelNames: ['window'],
      registers,
      async collect() {
        const a = await activity().catch(() => undefined);
        if (!a) return;
        ACTIVITY_WINDOWS.forEach(([label], i) => {
          this.set({ window: label }, a.since[i] ?? 0);
        });
      },
    });
    this.http = new Histogram({
      name: 'ecowatt_http_request_duration_seconds',
      help: 'HTTP request latency',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    new Gauge({
      name: 'ecowatt_outbox_depth',
      help: 'MQTT outbox records not yet published',
      registers,
      async collect() {
        this.set((await storage.outboxStats()).depth);
      },
    });
    new Gauge({
      name: 'ecowatt_outbox_oldest_age_seconds',
      help: 'Age of the oldest unpublished outbox record (0 when empty)',
      registers,
      async collect() {
        const oldest = (await storage.outboxStats()).oldestCreatedAt;
        this.set(oldest === null ? 0 : Math.max(0, (Date.now() - oldest) / 1000));
      },
    });
    new Gauge({
      name: 'ecowatt_database_up',
      help: '1 when the database answers',
      registers,
      async collect() {
        try {
          await storage.ping();
          this.set(1);
        } catch {
          this.set(0);
        }
      },
    });
  }

  /** A gauge read when scraped, for parts wired elsewhere (e.g. the MQTT link). */
  addGauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  observe(ingest: UploadFeed, events: SecurityEvents): void {
    ingest.onCommitted((u) => this.committed(u));
    events.onEvent((e) => this.event(e));
  }

  private committed(u: CommittedUpload): void {
    this.uploads.inc({ protocol: u.protocol });
    const duplicates = new Set(u.duplicatePackets);
    // Counted here first: one labelled increment per quality, not one per reading.
    const byQuality = new Map<string, number>();
    for (const p of u.packets) {
      const status = duplicates.has(p.index) ? 'duplicate' : p.status;
      this.packets.inc({ method: p.method ?? 'none', status });
      if (status !== 'decoded' || !p.block) continue;
      for (const q of p.block.quality) byQuality.set(q, (byQuality.get(q) ?? 0) + 1);
    }
    for (const [quality, n] of byQuality) this.readings.inc({ quality }, n);
    if (u.nonceGap > 0) this.nonceGaps.inc(u.nonceGap);
  }

  private event(e: SecurityEvent): void {
    this.events.inc({ code: e.code });
    if (isErrorCode(e.code)) this.rejections.inc({ code: e.code, reason: e.reason });
  }

  unsecuredControl(generation: string): void {
    this.unsecuredControlRequests.inc({ generation });
  }

  /** Request latency for every route, labelled by the route pattern (not the raw URL). */
  instrument(app: FastifyInstance): void {
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      this.http.observe(
        { route, method: request.method, status: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
    });
  }
}

/** The upload-age windows of `ecowatt_devices_uploaded_within`. */
const ACTIVITY_WINDOWS: readonly [string, number][] = [
  ['1m', 60_000],
  ['5m', 300_000],
  ['15m', 900_000],
  ['1h', 3_600_000],
  ['6h', 21_600_000],
  ['1d', 86_400_000],
  ['7d', 604_800_000],
];

/** One read of the devices per scrape, shared by the gauges that need it. */
function fleetActivity(storage: Pick<Storage, 'deviceActivity'>): () => Promise<DeviceActivity> {
  let last: { at: number; read: Promise<DeviceActivity> } | undefined;
  return () => {
    const now = Date.now();
    if (!last || now - last.at > 1000) {
      const read = storage.deviceActivity(ACTIVITY_WINDOWS.map(([, ms]) => now - ms));
      last = { at: now, read };
      read.catch(() => {
        if (last?.read === read) last = undefined;
      });
    }
    return last.read;
  };
}
