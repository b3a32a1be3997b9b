/**
 * The device registry assembled from storage and the settings' defaults, with its admin routes and
 * the devices' own reports (registration, energy, faults) and their admin view.
 */
import type { FastifyInstance } from 'fastify';
import { adminRoutes } from '../http/admin/admin-routes.js';
import { reportAdminRoutes } from '../http/admin/report-routes.js';
import { reportRoutes } from '../http/device/report-routes.js';
import type { Storage } from '../ports/storage.js';
import type { DeviceSettings } from '../settings/sections.js';
import type { ControlRequestGuard } from './control-request-guard.js';
import { DeviceService } from './device-service.js';
import type { KeyVault } from './key-vault.js';

export interface DevicesModule {
  service: DeviceService;
  register(app: FastifyInstance): Promise<void>;
}

export interface DevicesDeps {
  storage: Storage;
  /** Seals the device keys at rest. */
  vault: KeyVault;
  guard: ControlRequestGuard;
  adminToken: string;
}

export function createDevices(settings: DeviceSettings, deps: DevicesDeps): DevicesModule {
  const { storage, guard, adminToken } = deps;
  const service = new DeviceService(
    storage,
    { allowUnsecured: settings.defaultAllowUnsecured, replay: settings.defaultReplayMode },
    deps.vault,
  );
  return {
    service,
    async register(app) {
      await app.register(adminRoutes, { prefix: '/api', storage, devices: service, adminToken });
      await app.register(reportRoutes, {
        guard,
        storage,
        unsecuredControl: settings.unsecuredControl,
      });
      await app.register(reportAdminRoutes, { prefix: '/api', storage, devices: service, adminToken });
    },
  };
}
