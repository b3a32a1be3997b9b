/**
 * Composition root: the only place that picks adapters and wires services to the HTTP layer.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { PostgresCommandStore } from './adapters/postgres/command-store.js';
import { PostgresConfigStore } from './adapters/postgres/config-store.js';
import { PostgresFirmwareStore } from './adapters/postgres/firmware-store.js';
import { PostgresStorage } from './adapters/postgres/postgres-storage.js';
import { RedisRateLimiter } from './adapters/redis/redis-rate-limiter.js';
import { RedisReplayStore } from './adapters/redis/redis-replay-store.js';
import { SqliteCommandStore } from './adapters/sqlite/command-store.js';
import { SqliteConfigStore } from './adapters/sqlite/config-store.js';
import { SqliteFirmwareStore } from './adapters/sqlite/sqlite-firmware-store.js';
import { SqliteStorage } from './adapters/sqlite/sqlite-storage.js';
import { loadOrCreateAdminToken } from './admin-token.js';
import { AlertEngine } from './alerts/alert-engine.js';
import { CommandService } from './commands/command-service.js';
import { ConfigService } from './config/config-service.js';
import { ControlRequestGuard } from './devices/control-request-guard.js';
import { DeviceAuthenticator } from './devices/device-authenticator.js';
import { DeviceService } from './devices/device-service.js';
import { KeyDelivery } from './devices/key-delivery.js';
import { Refusals } from './devices/refusals.js';
import { createFirmware } from './firmware/firmware-module.js';
import { resolveFleetKeys } from './fleet-keys.js';
import { adminRoutes } from './http/admin/admin-routes.js';
import { commandRoutes } from './http/admin/command-routes.js';
import { configRoutes } from './http/admin/config-routes.js';
import { firmwareAdminRoutes, otaStatusRoute } from './http/admin/firmware-routes.js';
import { reportAdminRoutes } from './http/admin/report-routes.js';
import { registerAggregatedRoute } from './http/device/aggregated-route.js';
import { changesRoutes } from './http/device/changes-routes.js';
import { commandDeviceRoutes } from './http/device/command-routes.js';
import { config13Routes } from './http/device/config13-routes.js';
import { otaDeviceRoutes } from './http/device/ota-routes.js';
import { registerProcessRoute } from './http/device/process-route.js';
import { reportRoutes } from './http/device/report-routes.js';
import { registerSourceLimit } from './http/device/source-limit.js';
import { registerErrorHandling } from './http/error-handler.js';
import { registerJsonBody } from './http/json-body.js';
import { registerHealthRoutes } from './http/ops/health-routes.js';
import { registerMetricsRoute } from './http/ops/metrics-route.js';
import { type Limiter, RateLimiter } from './http/rate-limit.js';
import { registerV2ResponseSigning } from './http/v2-response-signing.js';
import { registerDashboard } from './http/web/dashboard.js';
import { IngestService } from './ingest/ingest-service.js';
import { loadKeyVault } from './master-key.js';
import { type MqttHandle, MqttService, mqttEnabled } from './mqtt/mqtt-service.js';
import { MqttThread } from './mqtt/mqtt-thread.js';
import type { StallInfo } from './mqtt/relay.js';
import type { FieldSettingsSink } from './mqtt/settings-topic.js';
import { Metrics } from './observability/metrics.js';
import { SecurityEvents } from './observability/security-events.js';
import type { CommandStore } from './ports/command-store.js';
import type { ConfigStore } from './ports/config-store.js';
import type { FirmwareStore } from './ports/firmware-store.js';
import type { ReplayStore } from './ports/replay-store.js';
import type { Storage } from './ports/storage.js';
import { effectiveUnsecuredControl, type RateSpec, type Settings, SettingsError } from './settings.js';
import { VERSION } from './version.js';

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

  const http = Fastify({
    logger: { level: settings.logLevel },
    bodyLimit: settings.bodyLimit,
    genReqId: () => randomUUID(),
    // Uploads and rejections log their own line; framework request lines only when debugging.
    logController: new LogController({
      disableRequestLogging: settings.logLevel !== 'debug' && settings.logLevel !== 'trace',
    }),
    return503OnClosing: true,
    ...(settings.trustProxy ? { trustProxy: settings.trustProxy.split(',').map((a) => a.trim()) } : {}),
    // Node's defaults never cut off a client that trickles its body, and check headers only every
    // 30 s; slow clients must not be able to hold connections (PROTOCOL.md §10, reliability suite).
    requestTimeout: settings.requestTimeoutMs,
    http: {
      headersTimeout: settings.requestTimeoutMs,
      requestTimeout: settings.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, settings.requestTimeoutMs),
    },
  });
  registerErrorHandling(http);
  // Every security event (uploads, control requests, alerts, the MQTT outbox) is written and fanned
  // out here: stored, then alerts, metrics and the dashboard's live feed.
  const events = new SecurityEvents(storage, http.log);
  // Several instances share their limits through Redis when it is configured.
  const limitRedis = settings.redisUrl ? await RedisRateLimiter.connect(settings.redisUrl) : undefined;
  const limiter = (name: string, spec: RateSpec): Limiter =>
    limitRedis
      ? new RedisRateLimiter(name, spec, limitRedis, settings.redisKeyPrefix, http.log)
      : new RateLimiter(name, spec);
  if (settings.rateLimitSource) registerSourceLimit(http, limiter('per-source', settings.rateLimitSource));
  const metrics = new Metrics(storage);
  metrics.instrument(http);
  registerJsonBody(http);
  registerV2ResponseSigning(http);

  // The MQTT settings topic changes the same configuration model as the admin API.
  const config = new ConfigService(stores.config, storage);
  const fieldSettings: FieldSettingsSink = config;
  // Created once ingestion exists; the MQTT stall callback fires later and finds it set.
  let alerts: AlertEngine | undefined;
  let mqtt: MqttHandle | null;
  try {
    const onStall = (info: StallInfo) => {
      alerts?.fire({
        rule: 'outbox_stalled',
        deviceId: null,
        message: `MQTT outbox stalled: oldest record ${info.oldestAgeSeconds} s old, ${info.depth} pending`,
        time: Date.now(),
        detail: { depth: info.depth, connected: info.connected },
      });
      events.record({
        time: Date.now(),
        deviceId: null,
        code: 'mqtt_outbox_stalled',
        reason: `oldest unpublished MQTT record is ${info.oldestAgeSeconds}s old (${info.depth} pending, broker ${info.connected ? 'connected' : 'unreachable'})`,
        source: null,
        nonce: null,
        requestId: null,
        detail: { depth: info.depth, oldest_age_seconds: info.oldestAgeSeconds, connected: info.connected },
      });
    };
    // With the SQLite file, the relay and the embedded broker get a thread of their own (with its
    // own read connection); otherwise (PostgreSQL, an in-memory database) they run here.
    const sqlite = storage instanceof SqliteStorage && storage.writesOnThread ? storage : null;
    mqtt =
      sqlite && mqttEnabled(settings)
        ? await MqttThread.start(settings, {
            attachWriter: () => sqlite.attachWriter(),
            sink: fieldSettings,
            log: http.log,
            onStall,
          })
        : await MqttService.start(settings, {
            outbox: storage,
            devices: storage,
            sink: fieldSettings,
            log: http.log,
            onStall,
          });
  } catch (err) {
    await storage.close();
    throw err;
  }
  if (mqtt) warnings.push(...mqtt.warnings);

  // Who sent a device request, for uploads and control requests alike; refusals leave one way.
  const refusals = new Refusals(events, settings.mode);
  const authenticator = new DeviceAuthenticator(
    storage,
    { fleetKeys: fleet.keys, vault },
    refusals,
    http.log,
  );
  const ingest = new IngestService(
    storage,
    {
      pollIntervalMs: settings.pollIntervalMs,
      defaultAllowUnsecured: settings.defaultAllowUnsecured,
      defaultReplayMode: settings.defaultReplayMode,
      counterResetThreshold: settings.counterResetThreshold,
      nonceGapEventThreshold: settings.nonceGapEventThreshold,
      cacheDecoderState: settings.databaseUrl === undefined,
      ...(settings.rateLimitDevice ? { deviceLimiter: limiter('per-device', settings.rateLimitDevice) } : {}),
    },
    authenticator,
    refusals,
    events,
    http.log,
  );
  alerts = new AlertEngine(
    {
      webhookUrl: settings.alertWebhookUrl,
      cooldownMs: settings.alertCooldownSeconds * 1000,
      windowMs: settings.alertWindowSeconds * 1000,
      macFailures: settings.alertMacFailures,
      replays: settings.alertReplays,
      silentIntervals: settings.alertSilentIntervals,
      uploadIntervalMs: 15_000,
    },
    storage,
    events,
    http.log,
  );
  const alertEngine = alerts;
  events.onEvent((event) => alertEngine.observe(event));
  alertEngine.start();
  const devices = new DeviceService(
    storage,
    { allowUnsecured: settings.defaultAllowUnsecured, replay: settings.defaultReplayMode },
    vault,
  );

  metrics.observe(ingest, events);
  // The relay also polls; this only makes publication prompt.
  if (mqtt) {
    const service = mqtt;
    ingest.onCommitted((upload) => service.committed(upload));
  }
  registerMetricsRoute(http, metrics);
  registerProcessRoute(http, ingest);
  registerAggregatedRoute(http, ingest);
  registerHealthRoutes(http, storage, { version: VERSION, mode: settings.mode, startedAt: Date.now() }, mqtt);
  await http.register(adminRoutes, { prefix: '/api', storage, devices, adminToken });
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
    http.log,
  );
  guard.onUnsecuredAccepted((_device, generation) => metrics.unsecuredControl(generation));
  const firmware = createFirmware(settings, stores.firmware, http.log);
  firmware.ota.onRolloutHalted((rollout) =>
    alertEngine.fire({
      rule: 'rollout_halted',
      deviceId: null,
      message: `Rollout ${rollout.id} (version ${rollout.version}) halted: ${rollout.stateReason ?? 'failure threshold passed'}`,
      time: Date.now(),
      detail: { rollout: rollout.id, version: rollout.version },
    }),
  );
  warnings.push(...firmware.warnings);
  await http.register(otaDeviceRoutes, { guard, ota: firmware.ota });
  await http.register(firmwareAdminRoutes, { prefix: '/api', ...firmware, adminToken });
  await http.register(otaStatusRoute, { ...firmware, adminToken });
  const commands = new CommandService(stores.commands, storage, {
    leaseSeconds: settings.commandLeaseSeconds,
    maxAttempts: settings.commandMaxAttempts,
  });
  await http.register(changesRoutes, { guard, config, keys: new KeyDelivery(vault) });
  await http.register(commandDeviceRoutes, { guard, commands });
  await http.register(config13Routes, { guard, config });
  await http.register(configRoutes, { prefix: '/api', config, adminToken });
  await http.register(commandRoutes, { prefix: '/api', commands, adminToken });
  await http.register(reportRoutes, {
    guard,
    storage,
    unsecuredControl: effectiveUnsecuredControl(settings),
  });
  await http.register(reportAdminRoutes, { prefix: '/api', storage, devices, adminToken });
  await registerDashboard(http, { storage, devices, ingest, events, adminToken });

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
      await alertEngine.stop();
      limitRedis?.disconnect();
      await mqtt?.close();
      await storage.close();
    },
  };
}

/** The stores of one profile: SQLite in the data directory (default), or PostgreSQL. */
interface Stores {
  storage: Storage;
  config: ConfigStore;
  commands: CommandStore;
  firmware: FirmwareStore;
}

async function openStores(settings: Settings, warnings: string[]): Promise<Stores> {
  const outbox = mqttEnabled(settings);
  if (settings.databaseUrl === undefined) {
    if (settings.replayStore === 'redis') {
      throw new SettingsError(
        'ECOWATT_REPLAY_STORE=redis needs ECOWATT_DATABASE_URL (the PostgreSQL profile).',
      );
    }
    if (settings.retentionDays > 0) {
      warnings.push(
        'ECOWATT_RETENTION_DAYS applies to the PostgreSQL profile only; the SQLite file keeps everything.',
      );
    }
    const storage = await SqliteStorage.open({
      dataDir: settings.dataDir,
      synchronous: settings.sqliteSynchronous,
      maxBatch: settings.groupCommitMaxBatch,
      outbox,
    });
    return {
      storage,
      config: new SqliteConfigStore(storage),
      commands: new SqliteCommandStore(storage),
      firmware: new SqliteFirmwareStore(storage),
    };
  }
  let replay: ReplayStore | undefined;
  if (settings.replayStore === 'redis') {
    if (settings.redisUrl === undefined) {
      throw new SettingsError('ECOWATT_REPLAY_STORE=redis needs ECOWATT_REDIS_URL.');
    }
    replay = await RedisReplayStore.open({ url: settings.redisUrl, keyPrefix: settings.redisKeyPrefix });
  }
  const storage = await PostgresStorage.open({
    url: settings.databaseUrl,
    poolSize: settings.databasePoolSize,
    outbox,
    ...(replay ? { replay } : {}),
    retentionDays: settings.retentionDays,
  });
  return {
    storage,
    config: new PostgresConfigStore(storage.pool),
    commands: new PostgresCommandStore(storage.pool),
    firmware: new PostgresFirmwareStore(storage.pool),
  };
}
