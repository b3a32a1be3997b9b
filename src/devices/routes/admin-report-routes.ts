/**
 * Device reports under /api (PROTOCOL-1.3.md §9): a device's energy reports and recent faults,
 * and the pending registrations (ids that registered before any device of theirs existed).
 */
import type { FastifyInstance } from 'fastify';
import { type AdminAccess, requireAccess, role } from '../../http/admin/admin-auth.js';
import { parseLimit } from '../../http/admin/params.js';
import type { ReportStore } from '../../ports/storage.js';
import { energyView, faultView, REPORT_RETENTION, registrationView } from '../device-reports.js';
import type { DeviceService } from '../device-service.js';

export interface ReportAdminDeps {
  storage: Pick<ReportStore, 'listReports' | 'listUnknownDeviceReports'>;
  devices: DeviceService;
  access: AdminAccess;
}

type IdParams = { id: string };
type Query = Record<string, string | undefined>;

export async function reportAdminRoutes(app: FastifyInstance, deps: ReportAdminDeps): Promise<void> {
  requireAccess(app, deps.access);
  const { storage, devices } = deps;

  app.get<{ Params: IdParams; Querystring: Query }>(
    '/devices/:id/energy',
    role('viewer'),
    async (request) => {
      const d = await devices.require(request.params.id);
      const limit = parseLimit('limit', request.query.limit, 12, REPORT_RETENTION.energy.perDevice);
      const reports = (await storage.listReports(d.id, 'energy', limit)).map(energyView);
      return { device_id: d.id, latest: reports[0] ?? null, reports };
    },
  );

  app.get<{ Params: IdParams; Querystring: Query }>(
    '/devices/:id/faults',
    role('viewer'),
    async (request) => {
      const d = await devices.require(request.params.id);
      const limit = parseLimit('limit', request.query.limit, 20, REPORT_RETENTION.fault.perDevice);
      return { device_id: d.id, faults: (await storage.listReports(d.id, 'fault', limit)).map(faultView) };
    },
  );

  app.get<{ Querystring: Query }>('/registrations', role('viewer'), async (request) => {
    const limit = parseLimit('limit', request.query.limit, 100, REPORT_RETENTION.registration.unknownDevices);
    const pending = await storage.listUnknownDeviceReports('registration', limit);
    return { registrations: pending.map((r) => registrationView(r)) };
  });
}
