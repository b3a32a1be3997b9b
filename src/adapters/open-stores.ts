/**
 * The profiles: which adapters back the ports, and how MQTT runs beside them. The server's one
 * module that knows the adapters, so the composition root never asks what a store is.
 */
import type { FastifyBaseLogger } from 'fastify';
import { type Limiter, RateLimiter } from '../http/rate-limit.js';
import { type MqttHandle, MqttService, type MqttStartDeps, mqttEnabled } from '../mqtt/mqtt-service.js';
import { MqttThread } from '../mqtt/mqtt-thread.js';
import type { CommandStore } from '../ports/command-store.js';
import type { ConfigStore } from '../ports/config-store.js';
import type { FirmwareStore } from '../ports/firmware-store.js';
import type { ReplayStore } from '../ports/replay-store.js';
import type { Storage } from '../ports/storage.js';
import { type RateSpec, type Settings, SettingsError } from '../settings.js';
import { PostgresCommandStore } from './postgres/command-store.js';
import { PostgresConfigStore } from './postgres/config-store.js';
import { PostgresFirmwareStore } from './postgres/firmware-store.js';
import { PostgresStorage } from './postgres/postgres-storage.js';
import { RedisRateLimiter } from './redis/redis-rate-limiter.js';
import { RedisReplayStore } from './redis/redis-replay-store.js';
import { SqliteCommandStore } from './sqlite/command-store.js';
import { SqliteConfigStore } from './sqlite/config-store.js';
import { SqliteFirmwareStore } from './sqlite/sqlite-firmware-store.js';
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
      config: new SqliteConfigStore(storage),
      commands: new SqliteCommandStore(storage),
      firmware: new SqliteFirmwareStore(storage),
      // With the SQLite file, the relay and the embedded broker get a thread of their own (with its
      // own read connection); an in-memory database has no writer thread to share, so they run here.
      startMqtt: (deps) =>
        storage.writesOnThread && outbox
          ? MqttThread.start(settings, {
              ...deps,
              attachWriter: () => storage.attachWriter(),
              worker: new URL('./sqlite/mqtt-worker.js', import.meta.url),
            })
          : MqttService.start(settings, { ...deps, outbox: storage, devices: storage }),
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
    startMqtt: (deps) => MqttService.start(settings, { ...deps, outbox: storage, devices: storage }),
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
