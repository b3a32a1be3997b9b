/**
 * Composition root: the only place that picks adapters and wires services to the HTTP layer.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { SqliteStorage } from './adapters/sqlite/sqlite-storage.js';
import { loadOrCreateAdminToken } from './admin-token.js';
import { DeviceService } from './devices/device-service.js';
import { resolveFleetKeys } from './fleet-keys.js';
import { loadKeyVault } from './master-key.js';
import { adminRoutes } from './http/admin/admin-routes.js';
import { registerProcessRoute } from './http/device/process-route.js';
import { registerErrorHandling } from './http/error-handler.js';
import { registerJsonBody } from './http/json-body.js';
import { registerHealthRoutes } from './http/ops/health-routes.js';
import { IngestService } from './ingest/ingest-service.js';
import type { Storage } from './ports/storage.js';
import { type Settings, SettingsError } from './settings.js';
import { VERSION } from './version.js';

export interface App {
  http: FastifyInstance;
  storage: Storage;
  adminToken: string;
  warnings: string[];
  close(): Promise<void>;
}

export async function createApp(settings: Settings): Promise<App> {
  const warnings: string[] = [];
  const fleet = resolveFleetKeys(settings);
  if (fleet.wellKnown) {
    warnings.push(
      "Using the field firmware's WELL-KNOWN fleet key: anyone can forge uploads. Set ECOWATT_FLEET_HMAC_KEY or ECOWATT_FLEET_KEY_FILE.",
    );
  }
  if (settings.mode === 'production' && settings.defaultAllowUnsecured) {
    throw new SettingsError(
      'ECOWATT_DEFAULT_ALLOW_UNSECURED cannot be true in production mode; allow unsecured uploads per device instead.',
    );
  }
  const adminToken = loadOrCreateAdminToken(settings.dataDir, settings.adminToken);
  const { vault, notice: vaultNotice } = loadKeyVault(settings);
  if (vaultNotice) warnings.push(vaultNotice);
  const storage = await SqliteStorage.open({
    dataDir: settings.dataDir,
    synchronous: settings.sqliteSynchronous,
    maxBatch: settings.groupCommitMaxBatch,
  });

  const http = Fastify({
    logger: { level: settings.logLevel },
    bodyLimit: settings.bodyLimit,
    genReqId: () => randomUUID(),
    // Uploads and rejections log their own line; framework request lines only when debugging.
    logController: new LogController({
      disableRequestLogging: settings.logLevel !== 'debug' && settings.logLevel !== 'trace',
    }),
    return503OnClosing: true,
  });
  registerErrorHandling(http);
  registerJsonBody(http);

  const ingest = new IngestService(
    storage,
    {
      mode: settings.mode,
      fleetKeys: fleet.keys,
      pollIntervalMs: settings.pollIntervalMs,
      defaultAllowUnsecured: settings.defaultAllowUnsecured,
      defaultReplayMode: settings.defaultReplayMode,
      counterResetThreshold: settings.counterResetThreshold,
      nonceGapEventThreshold: settings.nonceGapEventThreshold,
      vault,
    },
    http.log,
  );
  const devices = new DeviceService(
    storage,
    { allowUnsecured: settings.defaultAllowUnsecured, replay: settings.defaultReplayMode },
    vault,
  );

  registerProcessRoute(http, ingest);
  registerHealthRoutes(http, storage, { version: VERSION, mode: settings.mode, startedAt: Date.now() });
  await http.register(adminRoutes, { prefix: '/api', storage, devices, adminToken });

  let closed = false;
  return {
    http,
    storage,
    adminToken,
    warnings,
    async close() {
      if (closed) return;
      closed = true;
      await http.close();
      await storage.close();
    },
  };
}
