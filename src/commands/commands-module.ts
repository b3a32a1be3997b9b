/** Control commands assembled from their store and the lease settings, with device and admin routes. */
import type { FastifyInstance } from 'fastify';
import type { ControlRequestGuard } from '../devices/control-request-guard.js';
import type { AdminAccess } from '../http/admin/admin-auth.js';
import type { CommandStore } from '../ports/command-store.js';
import type { DeviceRegistry } from '../ports/storage.js';
import type { CommandSettings } from '../settings/sections.js';
import { CommandService } from './command-service.js';
import { commandRoutes } from './routes/admin-command-routes.js';
import { commandDeviceRoutes } from './routes/device-command-routes.js';

export interface CommandsModule {
  service: CommandService;
  register(app: FastifyInstance): Promise<void>;
}

export interface CommandsDeps {
  store: CommandStore;
  storage: Pick<DeviceRegistry, 'getDevice'>;
  guard: ControlRequestGuard;
  access: AdminAccess;
}

export function createCommands(settings: CommandSettings, deps: CommandsDeps): CommandsModule {
  const { guard, access } = deps;
  const service = new CommandService(deps.store, deps.storage, {
    leaseSeconds: settings.leaseSeconds,
    maxAttempts: settings.maxAttempts,
  });
  return {
    service,
    async register(app) {
      await app.register(commandDeviceRoutes, { guard, commands: service });
      await app.register(commandRoutes, { prefix: '/api', commands: service, access });
    },
  };
}
