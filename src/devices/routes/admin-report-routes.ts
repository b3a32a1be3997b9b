/**
 * Device reports under /api (PROTOCOL-1.3.md §9): a device's energy reports and recent faults,
 * and the pending registrations (ids that registered before any device of theirs existed).
 */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { adminApi } from '../../http/admin/admin-api.js';
import { type AdminAccess, role } from '../../http/admin/admin-auth.js';
import { errorAnswers, IdParams, Limit } from '../../http/api-schemas.js';
import type { ReportStore } from '../../ports/storage.js';
import { energyView, faultView, REPORT_RETENTION, registrationView } from '../device-reports.js';
import type { DeviceService } from '../device-service.js';
import { EnergyReports, FaultReports, PendingRegistrations } from './report-schemas.js';

export interface ReportAdminDeps {
  storage: Pick<ReportStore, 'listReports' | 'listUnknownDeviceReports'>;
  devices: DeviceService;
  access: AdminAccess;
}

// As many as are kept at most (REPORT_RETENTION).
const ENERGY = { dflt: 12, max: REPORT_RETENTION.energy.perDevice };
const FAULTS = { dflt: 20, max: REPORT_RETENTION.fault.perDevice };
const PENDING = { dflt: 100, max: REPORT_RETENTION.registration.unknownDevices };

const limitQuery = (l: { dflt: number; max: number }) => Type.Object({ limit: Limit(l.dflt, l.max) });

export async function reportAdminRoutes(app: FastifyInstance, deps: ReportAdminDeps): Promise<void> {
  const api = adminApi(app, deps.access);
  const { storage, devices } = deps;

  api.get(
    '/devices/:id/energy',
    {
      ...role('viewer'),
      schema: {
        summary: "A device's energy reports, newest first",
        params: IdParams,
        querystring: limitQuery(ENERGY),
        response: { 200: EnergyReports, ...errorAnswers('not_found') },
      },
    },
    async (request) => {
      const d = await devices.require(request.params.id);
      const limit = request.query.limit ?? ENERGY.dflt;
      const reports = (await storage.listReports(d.id, 'energy', limit)).map(energyView);
      return { device_id: d.id, latest: reports[0] ?? null, reports };
    },
  );

  api.get(
    '/devices/:id/faults',
    {
      ...role('viewer'),
      schema: {
        summary: "A device's fault-recovery reports, newest first",
        params: IdParams,
        querystring: limitQuery(FAULTS),
        response: { 200: FaultReports, ...errorAnswers('not_found') },
      },
    },
    async (request) => {
      const d = await devices.require(request.params.id);
      const limit = request.query.limit ?? FAULTS.dflt;
      return { device_id: d.id, faults: (await storage.listReports(d.id, 'fault', limit)).map(faultView) };
    },
  );

  api.get(
    '/registrations',
    {
      ...role('viewer'),
      schema: {
        summary: 'Pending registrations: ids that registered before any device of theirs existed',
        querystring: limitQuery(PENDING),
        response: { 200: PendingRegistrations, ...errorAnswers() },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? PENDING.dflt;
      const pending = await storage.listUnknownDeviceReports('registration', limit);
      return { registrations: pending.map((r) => registrationView(r)) };
    },
  );
}
