/**
 * The web dashboard: its static files at `/`, the routes it needs under `/api`, and the live
 * stream fed by the ingest pipeline (committed uploads and security events).
 */

import type { FastifyInstance } from 'fastify';
import type { DeviceService } from '../../devices/device-service.js';
import type { AdminAccess } from '../../http/admin/admin-auth.js';
import { registerStaticRoutes } from '../../http/web/static-routes.js';
import type { IngestService } from '../../ingest/ingest-service.js';
import { eventJson } from '../../observability/event-json.js';
import type { SecurityEvents } from '../../observability/security-events.js';
import type { Storage } from '../../ports/storage.js';
import { expectedInterval } from '../cadence.js';
import { FleetTracker } from '../fleet-tracker.js';
import { LiveHub } from '../live-hub.js';
import { LiveTickets } from '../live-ticket.js';
import { dashboardRoutes, type LiveHolder, latestView } from './dashboard-routes.js';

export interface DashboardOptions {
  storage: Storage;
  devices: DeviceService;
  ingest: IngestService;
  events: SecurityEvents;
  access: AdminAccess;
  /** Built dashboard files (default: this package's `dist/web`). */
  webDir?: string;
}

export async function registerDashboard(app: FastifyInstance, opts: DashboardOptions): Promise<void> {
  const tracker = new FleetTracker(opts.storage);
  const hub = new LiveHub();
  const tickets = new LiveTickets<LiveHolder>();

  opts.ingest.onCommitted((u) => {
    const newest = tracker.observe(u);
    if (hub.size === 0) return;
    const recent = tracker.recentIntervals(u.deviceId);
    const duplicates = new Set(u.duplicatePackets);
    hub.publish('upload', {
      device_id: u.deviceId,
      upload_id: u.uploadId,
      nonce: u.nonce,
      received_at: new Date(u.receivedAt).toISOString(),
      registered: u.registered,
      packets: u.packets.length,
      samples: u.packets.reduce((n, p) => n + (p.block && !duplicates.has(p.index) ? p.block.samples : 0), 0),
      quarantined: u.packets.filter((p) => p.status === 'quarantined').length,
      duplicate_packets: u.duplicatePackets.length,
      latest: newest.map(latestView),
      energy_today_wh: tracker.energyIfKnown(u.deviceId),
      interval_ms:
        recent.length > 0 ? expectedInterval(recent, { firstSeen: null, lastSeen: null, uploads: 0 }) : null,
    });
  });
  opts.events.onEvent((e) => hub.publish('security', eventJson(e)));
  // Open streams would keep the server from closing.
  app.addHook('preClose', async () => hub.close());

  await app.register(dashboardRoutes, {
    prefix: '/api',
    storage: opts.storage,
    devices: opts.devices,
    access: opts.access,
    tracker,
    hub,
    tickets,
  });
  registerStaticRoutes(app, opts.webDir);
}
