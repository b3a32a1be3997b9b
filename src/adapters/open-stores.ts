/**
 * The profiles: which adapters back the ports, and how MQTT runs beside them. The server's one
 * module that knows the adapters, so the composition root never asks what a store is.
 */
import type { FastifyBaseLogger } from 'fastify';
import { type Limiter, RateLimiter } from '../http/rate-limit.js';
import { startMqttInProcess } from '../mqtt/in-process-host.js';
import { mqttEnabled } from '../mqtt/mqtt-plan.js';
import type { MqttHandle, MqttStartDeps } from '../mqtt/mqtt-service.js';
import { MqttThread } from '../mqtt/mqtt-thread.js';
import type { CommandStore } from '../ports/command-store.js';
import type { ConfigStore } from '../ports/config-store.js';
import type { FirmwareStore } from '../ports/firmware-store.js';
import type { ReplayStore } from '../ports/replay-store.js';
import type { Storage } from '../ports/storage.js';
import { type RateSpec, type Settings, SettingsError } from '../settings.js';
import { PostgresStorage } from './postgres/postgres-storage.js';
import { RedisRateLimiter } from './redis/redis-rate-limiter.js';
import { RedisReplayStore } from './redis/redis-replay-store.js';
import { SqlCommandStore } from './sql/command-store.js';
import { CommandWrites } from './sql/command-writes.js';
import { SqlConfigStore } from './sql/config-store.js';
import { ConfigWrites } from './sql/config-writes.js';
import { SqlFirmwareStore } from './sql/firmware-store.js';
import { FirmwareWrites } from './sql/firmware-writes.js';
import { SqliteStorage } from './sqlite/sqlite-storage.js';

/** The stores of one profile: SQLite in the data directory (default), or PostgreSQL. */
export interface Stores {
  storage: Storage;
  config: ConfigStore;
  commands: CommandStore;
  firmware: FirmwareStore;
  /** Starts MQTT where this profile runs it; `null` when MQTT is off. */
  startMqtt(deps: MqttStartDeps): Promise<MqttHandle | null>;
}

export async function openStores(settings: Settings, warnings: string[]): Promise<Stores> {
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
      config: new SqlConfigStore(storage.sql, storage.writer.writes.config),
      commands: new SqlCommandStore(storage.sql, storage.writer.writes.commands),
      firmware: new SqlFirmwareStore(storage.sql, storage.writer.writes.firmware),
      // With the SQLite file, the MQTT runtime gets a thread of its own (with its own read
      // connection); an in-memory database has no writer thread to share, so it runs here.
      startMqtt: (deps) =>
        storage.writesOnThread && outbox
          ? MqttThread.start(settings, {
              ...deps,
              attachWriter: () => storage.attachWriter(),
              worker: new URL('./sqlite/mqtt-worker.js', import.meta.url),
            })
          : startMqttInProcess(settings, { ...deps, outbox: storage, devices: storage }),
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
    config: new SqlConfigStore(storage.sql, new ConfigWrites(storage.sql)),
    commands: new SqlCommandStore(storage.sql, new CommandWrites(storage.sql)),
    firmware: new SqlFirmwareStore(storage.sql, new FirmwareWrites(storage.sql)),
    startMqtt: (deps) => startMqttInProcess(settings, { ...deps, outbox: storage, devices: storage }),
  };
}

export interface RateLimits {
  limiter(name: string, spec: RateSpec): Limiter;
  close(): void;
}

/** Several instances share their limits through Redis when it is configured. */
export async function openRateLimits(settings: Settings, log: FastifyBaseLogger): Promise<RateLimits> {
  const redis = settings.redisUrl ? await RedisRateLimiter.connect(settings.redisUrl) : undefined;
  return {
    limiter: (name, spec) =>
      redis
        ? new RedisRateLimiter(name, spec, redis, settings.redisKeyPrefix, log)
        : new RateLimiter(name, spec),
    close: () => redis?.disconnect(),
  };
}
