/**
 * The device registry assembled from storage and the settings' defaults, with its admin routes and
 * the devices' own reports (registration, energy, faults) and their admin view.
 */
import type { FastifyInstance } from 'fastify';
import type { AdminAccess } from '../http/admin/admin-auth.js';
import type { Storage } from '../ports/storage.js';
import type { DeviceSettings } from '../settings/sections.js';
import type { ControlRequestGuard } from './control-request-guard.js';
import { DeviceService } from './device-service.js';
import type { KeyVault } from './key-vault.js';
import { reportAdminRoutes } from './routes/admin-report-routes.js';
import { adminRoutes } from './routes/device-admin-routes.js';
import { reportRoutes } from './routes/device-report-routes.js';

export interface DevicesModule {
  service: DeviceService;
  register(app: FastifyInstance): Promise<void>;
}

export interface DevicesDeps {
  storage: Storage;
  /** Seals the device keys at rest. */
  vault: KeyVault;
  guard: ControlRequestGuard;
  access: AdminAccess;
}

export function createDevices(settings: DeviceSettings, deps: DevicesDeps): DevicesModule {
  const { storage, guard, access } = deps;
  const service = new DeviceService(
    storage,
    { allowUnsecured: settings.defaultAllowUnsecured, replay: settings.defaultReplayMode },
    deps.vault,
  );
  return {
    service,
    async register(app) {
      await app.register(adminRoutes, { prefix: '/api', storage, devices: service, access });
      await app.register(reportRoutes, {
        guard,
        storage,
        unsecuredControl: settings.unsecuredControl,
      });
      await app.register(reportAdminRoutes, { prefix: '/api', storage, devices: service, access });
    },
  };
}
