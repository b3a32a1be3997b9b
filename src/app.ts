/**
 * Composition root: settings → stores → the pieces every capability shares → one factory per
 * capability → routes. Each capability's factory (in its own folder) builds its services and
 * mounts its routes from its own section of the settings (the one place that sees them all is
 * here); the profile in `adapters/open-stores.ts` picks the adapters.
 */
import type { FastifyInstance } from 'fastify';
import { openRateLimits, openStores } from './adapters/open-stores.js';
import { loadOrCreateAdminToken } from './admin-token.js';
import { createAlerts } from './alerts/alerts-module.js';
import { createCommands } from './commands/commands-module.js';
import { createConfig } from './config/config-module.js';
import { createDashboard } from './dashboard/dashboard-module.js';
import { ControlRequestGuard } from './devices/control-request-guard.js';
import { DeviceAuthenticator } from './devices/device-authenticator.js';
import { createDevices } from './devices/devices-module.js';
import { Refusals } from './devices/refusals.js';
import { createFirmware } from './firmware/firmware-module.js';
import { resolveFleetKeys } from './fleet-keys.js';
import { registerSourceLimit } from './http/device/source-limit.js';
import { createHttpServer } from './http/http-server.js';
import { registerJsonBody } from './http/json-body.js';
import { registerApiDocs } from './http/openapi/api-docs.js';
import { registerV2ResponseSigning } from './http/v2-response-signing.js';
import { createIngest } from './ingest/ingest-module.js';
import { loadKeyVault } from './master-key.js';
import type { MqttHandle } from './mqtt/mqtt-service.js';
import { Metrics } from './observability/metrics.js';
import { createOps } from './observability/ops-module.js';
import { SecurityEvents } from './observability/security-events.js';
import { createOperators } from './operators/operators-module.js';
import type { Storage } from './ports/storage.js';
import type { Settings } from './settings/sections.js';
import { settingsWarnings } from './settings/validate-settings.js';

export interface App {
  http: FastifyInstance;
  storage: Storage;
  /** The break-glass admin token (`null`: `ECOWATT_ADMIN_TOKEN=off`). */
  adminToken: string | null;
  warnings: string[];
  /** `null` when MQTT is off. */
  mqtt: MqttHandle | null;
  close(): Promise<void>;
}

/** `settings` as `loadSettings` returns them: resolved, and checked together. */
export async function createApp(settings: Settings): Promise<App> {
  const warnings: string[] = [];
  const fleet = resolveFleetKeys(settings.devices, settings.server.mode);
  if (fleet.wellKnown) {
    warnings.push(
      "Using the field firmware's WELL-KNOWN fleet key: anyone can forge uploads. Set ECOWATT_FLEET_HMAC_KEY or ECOWATT_FLEET_KEY_FILE.",
    );
  }
  const adminToken =
    settings.server.adminToken === 'off'
      ? null
      : loadOrCreateAdminToken(settings.storage.dataDir, settings.server.adminToken);
  const { vault, notice: vaultNotice } = loadKeyVault(settings.devices, settings.storage.dataDir);
  if (vaultNotice) warnings.push(vaultNotice);
  warnings.push(...settingsWarnings(settings));

  const stores = await openStores(settings.storage, settings.mqtt);
  const { storage } = stores;

  const http = createHttpServer(settings.server);
  const log = http.log;
  // Every security event (uploads, control requests, alerts, the MQTT outbox) is written and fanned
  // out here: stored, then alerts, metrics and the dashboard's live feed.
  const events = new SecurityEvents(storage, log);
  const limits = await openRateLimits(
    settings.limits,
    { url: settings.storage.redisUrl, keyPrefix: settings.storage.redisKeyPrefix },
    log,
  );
  if (limits.source) registerSourceLimit(http, limits.source);
  const metrics = new Metrics(storage);
  metrics.instrument(http);
  registerJsonBody(http);
  await registerApiDocs(http);
  registerV2ResponseSigning(http);
  // Who sent a device request, for uploads and control requests alike; refusals leave one way.
  const refusals = new Refusals(events, settings.server.mode);
  const authenticator = new DeviceAuthenticator(storage, { fleetKeys: fleet.keys, vault }, refusals, log);
  const guard = new ControlRequestGuard(
    authenticator,
    storage,
    refusals,
    events,
    {
      counterResetThreshold: settings.devices.counterResetThreshold,
      unsecuredControl: settings.devices.unsecuredControl,
      sourceWindowMs: settings.devices.controlSourceWindowSeconds * 1000,
    },
    log,
  );

  // Who may call the admin API: accounts and their sessions, API keys, the break-glass token.
  const operators = createOperators(settings.operators, { store: stores.operators, events, adminToken });
  const { access } = operators;
  if (adminToken === null && (await stores.operators.countAdmins()) === 0) {
    warnings.push(
      'ECOWATT_ADMIN_TOKEN=off and no enabled admin account: nobody can administer this server. Create one with `ecowatt user add <name> --role admin --direct`.',
    );
  }

  // Before MQTT: its settings topic changes the same configuration model as the admin API.
  const config = createConfig({ store: stores.config, storage, guard, vault, access });
  const alerts = createAlerts(settings.alerts, { storage, events, log });
  const mqtt = await stores
    .startMqtt({ sink: config.service, log, onStall: (info) => alerts.outboxStalled(info) })
    .catch(async (err: unknown) => {
      await storage.close();
      throw err;
    });
  const ingest = createIngest(settings.devices, {
    storage,
    authenticator,
    refusals,
    events,
    deviceLimiter: limits.device,
    // Only the SQLite profile's one process writes the store; instances sharing PostgreSQL read it back.
    cacheDecoderState: settings.storage.databaseUrl === undefined,
    log,
  });
  // Listeners run in subscription order: the engine hears each event before metrics and the
  // dashboard do, as each upload reaches metrics before MQTT and the dashboard.
  alerts.start();
  const ops = createOps(settings.server, {
    storage,
    metrics,
    ingest: ingest.service,
    events,
    guard,
    mqtt,
  });
  // The relay also polls; this only makes publication prompt.
  if (mqtt) ingest.service.onCommitted((upload) => mqtt.committed(upload));
  const devices = createDevices(settings.devices, { storage, vault, guard, access });
  const firmware = createFirmware(settings.firmware, {
    dataDir: settings.storage.dataDir,
    store: stores.firmware,
    guard,
    access,
    log,
  });
  firmware.ota.onRolloutHalted((rollout) => alerts.rolloutHalted(rollout));
  warnings.push(...firmware.warnings);
  const commands = createCommands(settings.commands, { store: stores.commands, storage, guard, access });
  const dashboard = createDashboard({
    storage,
    devices: devices.service,
    ingest: ingest.service,
    events,
    access,
  });

  for (const capability of [ops, ingest, operators, devices, firmware, config, commands, dashboard]) {
    await capability.register(http);
  }

  let closed = false;
  return {
    http,
    storage,
    adminToken,
    warnings,
    mqtt,
    async close() {
      if (closed) return;
      closed = true;
      await http.close();
      await alerts.stop();
      limits.close();
      await mqtt?.close();
      await storage.close();
    },
  };
}
