/**
 * Composition root: settings → stores → the pieces every capability shares → one factory per
 * capability → routes. Each capability's factory (in its own folder) builds its services and
 * mounts its routes; the profile in `adapters/open-stores.ts` picks the adapters.
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
import { registerV2ResponseSigning } from './http/v2-response-signing.js';
import { createIngest } from './ingest/ingest-module.js';
import { loadKeyVault } from './master-key.js';
import type { MqttHandle } from './mqtt/mqtt-service.js';
import { Metrics } from './observability/metrics.js';
import { createOps } from './observability/ops-module.js';
import { SecurityEvents } from './observability/security-events.js';
import type { Storage } from './ports/storage.js';
import { effectiveUnsecuredControl, type Settings, SettingsError } from './settings.js';

export interface App {
  http: FastifyInstance;
  storage: Storage;
  adminToken: string;
  warnings: string[];
  /** `null` when MQTT is off. */
  mqtt: MqttHandle | null;
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

  const stores = await openStores(settings, warnings);
  const { storage } = stores;

  const http = createHttpServer(settings);
  const log = http.log;
  // Every security event (uploads, control requests, alerts, the MQTT outbox) is written and fanned
  // out here: stored, then alerts, metrics and the dashboard's live feed.
  const events = new SecurityEvents(storage, log);
  const limits = await openRateLimits(settings, log);
  if (settings.rateLimitSource) {
    registerSourceLimit(http, limits.limiter('per-source', settings.rateLimitSource));
  }
  const metrics = new Metrics(storage);
  metrics.instrument(http);
  registerJsonBody(http);
  registerV2ResponseSigning(http);
  // Who sent a device request, for uploads and control requests alike; refusals leave one way.
  const refusals = new Refusals(events, settings.mode);
  const authenticator = new DeviceAuthenticator(storage, { fleetKeys: fleet.keys, vault }, refusals, log);
  const guard = new ControlRequestGuard(
    authenticator,
    storage,
    refusals,
    events,
    {
      counterResetThreshold: settings.counterResetThreshold,
      unsecuredControl: effectiveUnsecuredControl(settings),
      sourceWindowMs: settings.controlSourceWindowSeconds * 1000,
    },
    log,
  );

  // Before MQTT: its settings topic changes the same configuration model as the admin API.
  const config = createConfig({ store: stores.config, storage, guard, vault, adminToken });
  const alerts = createAlerts(settings, { storage, events, log });
  const mqtt = await stores
    .startMqtt({ sink: config.service, log, onStall: (info) => alerts.outboxStalled(info) })
    .catch(async (err: unknown) => {
      await storage.close();
      throw err;
    });
  if (mqtt) warnings.push(...mqtt.warnings);
  const ingest = createIngest(settings, {
    storage,
    authenticator,
    refusals,
    events,
    limiter: limits.limiter,
    log,
  });
  // Listeners run in subscription order: the engine hears each event before metrics and the
  // dashboard do, as each upload reaches metrics before MQTT and the dashboard.
  alerts.start();
  const ops = createOps(settings, { storage, metrics, ingest: ingest.service, events, guard, mqtt });
  // The relay also polls; this only makes publication prompt.
  if (mqtt) ingest.service.onCommitted((upload) => mqtt.committed(upload));
  const devices = createDevices(settings, { storage, vault, guard, adminToken });
  const firmware = createFirmware(settings, { store: stores.firmware, guard, adminToken, log });
  firmware.ota.onRolloutHalted((rollout) => alerts.rolloutHalted(rollout));
  warnings.push(...firmware.warnings);
  const commands = createCommands(settings, { store: stores.commands, storage, guard, adminToken });
  const dashboard = createDashboard({
    storage,
    devices: devices.service,
    ingest: ingest.service,
    events,
    adminToken,
  });

  for (const capability of [ops, ingest, devices, firmware, config, commands, dashboard]) {
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
