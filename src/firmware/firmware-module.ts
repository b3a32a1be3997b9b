/**
 * The firmware capability assembled from its store and the settings: keys, catalogue, rollouts,
 * OTA, with the devices' OTA routes and the admin firmware and rollout routes.
 */
import type { FastifyInstance, FastifyBaseLogger as Logger } from 'fastify';
import type { ControlRequestGuard } from '../devices/control-request-guard.js';
import type { AdminAccess } from '../http/admin/admin-auth.js';
import type { FirmwareStore } from '../ports/firmware-store.js';
import { SettingsError } from '../settings/parsers.js';
import type { FirmwareSettings } from '../settings/sections.js';
import { FirmwareCatalogue } from './firmware-catalogue.js';
import { type FirmwareKeys, KeyError, keyWarnings, loadKeySets } from './firmware-keys.js';
import { OtaService } from './ota-service.js';
import { RolloutService } from './rollout-service.js';
import { firmwareAdminRoutes, otaStatusRoute } from './routes/firmware-routes.js';
import { otaDeviceRoutes } from './routes/ota-routes.js';

export interface FirmwareModule {
  catalogue: FirmwareCatalogue;
  rollouts: RolloutService;
  ota: OtaService;
  warnings: string[];
  register(app: FastifyInstance): Promise<void>;
}

export interface FirmwareDeps {
  /** Where uploaded images are kept. */
  dataDir: string;
  store: FirmwareStore;
  guard: ControlRequestGuard;
  access: AdminAccess;
  log: Logger;
}

export function createFirmware(settings: FirmwareSettings, deps: FirmwareDeps): FirmwareModule {
  const { store, guard, access } = deps;
  const { keyDir } = settings;
  // One set per firmware generation (e84f720 at the top of the directory, 1.3 in `1.3/`).
  let keys: FirmwareKeys[];
  try {
    keys = loadKeySets(keyDir);
  } catch (err) {
    if (err instanceof KeyError) throw new SettingsError(err.message);
    throw err;
  }
  const catalogue = new FirmwareCatalogue(store, keys, {
    dataDir: deps.dataDir,
    maxBytes: settings.maxBytes,
    chunkSize: settings.chunkSize,
    keyDir,
  });
  const rollouts = new RolloutService(store, catalogue);
  const ota = new OtaService(store, catalogue, deps.log);
  return {
    catalogue,
    rollouts,
    ota,
    warnings: keys.flatMap((k) => keyWarnings(k)),
    async register(app) {
      await app.register(otaDeviceRoutes, { guard, ota });
      await app.register(firmwareAdminRoutes, { prefix: '/api', catalogue, rollouts, ota, access });
      await app.register(otaStatusRoute, { catalogue, rollouts, ota, access });
    },
  };
}
