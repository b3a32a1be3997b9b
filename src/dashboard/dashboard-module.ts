/**
 * The web dashboard: its files, its `/api` routes, and the live stream fed by committed uploads and
 * security events (subscribed when it is mounted).
 */
import type { FastifyInstance } from 'fastify';
import type { DeviceService } from '../devices/device-service.js';
import type { AdminAccess } from '../http/admin/admin-auth.js';
import type { IngestService } from '../ingest/ingest-service.js';
import type { SecurityEvents } from '../observability/security-events.js';
import type { Storage } from '../ports/storage.js';
import { registerDashboard } from './routes/dashboard-web.js';

export interface DashboardModule {
  register(app: FastifyInstance): Promise<void>;
}

export interface DashboardDeps {
  storage: Storage;
  devices: DeviceService;
  ingest: IngestService;
  events: SecurityEvents;
  access: AdminAccess;
}

export function createDashboard(deps: DashboardDeps): DashboardModule {
  return { register: (app) => registerDashboard(app, deps) };
}
