/**
 * Remote configuration assembled from its store, with the devices' configuration routes (e84f720
 * `/changes` and `/device_settings`, the 1.3 `/config` routes) and the admin ones.
 */
import type { FastifyInstance } from 'fastify';
import type { ControlRequestGuard } from '../devices/control-request-guard.js';
import { KeyDelivery } from '../devices/key-delivery.js';
import type { KeyVault } from '../devices/key-vault.js';
import type { AdminAccess } from '../http/admin/admin-auth.js';
import type { ConfigStore } from '../ports/config-store.js';
import type { DeviceRegistry } from '../ports/storage.js';
import { ConfigService } from './config-service.js';
import { changesRoutes } from './routes/changes-routes.js';
import { configRoutes } from './routes/config-routes.js';
import { config13Routes } from './routes/config13-routes.js';

export interface ConfigModule {
  /** Also the sink of the MQTT settings topic, which changes the same configuration model. */
  service: ConfigService;
  register(app: FastifyInstance): Promise<void>;
}

export interface ConfigDeps {
  store: ConfigStore;
  storage: Pick<DeviceRegistry, 'getDevice'>;
  guard: ControlRequestGuard;
  /** Opens device keys for the v2 key rotation carried by configuration answers. */
  vault: KeyVault;
  access: AdminAccess;
}

export function createConfig({ store, storage, guard, vault, access }: ConfigDeps): ConfigModule {
  const service = new ConfigService(store, storage);
  return {
    service,
    async register(app) {
      await app.register(changesRoutes, { guard, config: service, keys: new KeyDelivery(vault) });
      await app.register(config13Routes, { guard, config: service });
      await app.register(configRoutes, { prefix: '/api', config: service, access });
    },
  };
}
