/**
 * The profiles: which adapters back the ports, and how MQTT runs beside them. The server's one
 * module that knows the adapters, so the composition root never asks what a store is.
 */
import type { FastifyBaseLogger } from 'fastify';
import { type Limiter, RateLimiter } from '../http/rate-limit.js';
import { startMqttInProcess } from '../mqtt/in-process-host.js';
import { type MqttRuntimeSettings, mqttEnabled } from '../mqtt/mqtt-plan.js';
import type { MqttHandle, MqttStartDeps } from '../mqtt/mqtt-service.js';
import { MqttThread } from '../mqtt/mqtt-thread.js';
import type { CommandStore } from '../ports/command-store.js';
import type { ConfigStore } from '../ports/config-store.js';
import type { FirmwareStore } from '../ports/firmware-store.js';
import type { OperatorStore } from '../ports/operator-store.js';
import type { Storage } from '../ports/storage.js';
import type { RateSpec } from '../settings/parsers.js';
import type { LimitSettings, MqttSettings, StorageSettings } from '../settings/sections.js';
import { PostgresStorage } from './postgres/postgres-storage.js';
import { RedisRateLimiter } from './redis/redis-rate-limiter.js';
import { RedisReplayStore } from './redis/redis-replay-store.js';
import { SqlCommandStore } from './sql/command-store.js';
import { CommandWrites } from './sql/command-writes.js';
import { SqlConfigStore } from './sql/config-store.js';
import { ConfigWrites } from './sql/config-writes.js';
import { SqlFirmwareStore } from './sql/firmware-store.js';
import { FirmwareWrites } from './sql/firmware-writes.js';
import { SqlOperatorStore } from './sql/operator-store.js';
import { OperatorWrites } from './sql/operator-writes.js';
import { SqliteStorage } from './sqlite/sqlite-storage.js';

/** The stores of one profile: SQLite in the data directory (default), or PostgreSQL. */
export interface Stores {
  storage: Storage;
  config: ConfigStore;
  commands: CommandStore;
  firmware: FirmwareStore;
  /** Operator accounts, sessions and API keys. */
  operators: OperatorStore;
  /** Starts MQTT where this profile runs it; `null` when MQTT is off. */
  startMqtt(deps: MqttStartDeps): Promise<MqttHandle | null>;
}

/**
 * Opens the stores `storage` names, and MQTT (`mqtt`) beside them. The combinations that cannot
 * work (a Redis replay store without PostgreSQL or Redis) were refused at load.
 */
export async function openStores(storage: StorageSettings, mqtt: MqttSettings): Promise<Stores> {
  const outbox = mqttEnabled(mqtt);
  const runtime: MqttRuntimeSettings = { mqtt, dataDir: storage.dataDir, databaseUrl: storage.databaseUrl };
  if (storage.databaseUrl === undefined) {
    const sqlite = await SqliteStorage.open({
      dataDir: storage.dataDir,
      synchronous: storage.sqliteSynchronous,
      maxBatch: storage.groupCommitMaxBatch,
      outbox,
    });
    return {
      storage: sqlite,
      config: new SqlConfigStore(sqlite.sql, sqlite.writer.writes.config),
      commands: new SqlCommandStore(sqlite.sql, sqlite.writer.writes.commands),
      firmware: new SqlFirmwareStore(sqlite.sql, sqlite.writer.writes.firmware),
      operators: new SqlOperatorStore(sqlite.sql, sqlite.writer.writes.operators),
      // With the SQLite file, the MQTT runtime gets a thread of its own (with its own read
      // connection); an in-memory database has no writer thread to share, so it runs here.
      startMqtt: (deps) =>
        sqlite.writesOnThread && outbox
          ? MqttThread.start(
              { runtime, sqliteSynchronous: storage.sqliteSynchronous },
              {
                ...deps,
                attachWriter: () => sqlite.attachWriter(),
                worker: new URL('./sqlite/mqtt-worker.js', import.meta.url),
              },
            )
          : startMqttInProcess(runtime, { ...deps, outbox: sqlite, devices: sqlite }),
    };
  }
  const replay =
    storage.replayStore === 'redis' && storage.redisUrl !== undefined
      ? await RedisReplayStore.open({ url: storage.redisUrl, keyPrefix: storage.redisKeyPrefix })
      : undefined;
  const postgres = await PostgresStorage.open({
    url: storage.databaseUrl,
    poolSize: storage.databasePoolSize,
    outbox,
    ...(replay ? { replay } : {}),
    retentionDays: storage.retentionDays,
    partitionIntervalMs: storage.partitionIntervalMs,
  });
  return {
    storage: postgres,
    config: new SqlConfigStore(postgres.sql, new ConfigWrites(postgres.sql)),
    commands: new SqlCommandStore(postgres.sql, new CommandWrites(postgres.sql)),
    firmware: new SqlFirmwareStore(postgres.sql, new FirmwareWrites(postgres.sql)),
    operators: new SqlOperatorStore(postgres.sql, new OperatorWrites(postgres.sql)),
    startMqtt: (deps) => startMqttInProcess(runtime, { ...deps, outbox: postgres, devices: postgres }),
  };
}

export interface RateLimits {
  /** Per source address (`null`: off). */
  source: Limiter | null;
  /** Per device, once it is authenticated (`null`: off). */
  device: Limiter | null;
  close(): void;
}

/** The limits `limits` sets; several instances share them through Redis when it is configured. */
export async function openRateLimits(
  limits: LimitSettings,
  redis: { url: string | undefined; keyPrefix: string },
  log: FastifyBaseLogger,
): Promise<RateLimits> {
  const client = redis.url ? await RedisRateLimiter.connect(redis.url) : undefined;
  const limiter = (name: string, spec: RateSpec | null): Limiter | null => {
    if (spec === null) return null;
    return client
      ? new RedisRateLimiter(name, spec, client, redis.keyPrefix, log)
      : new RateLimiter(name, spec);
  };
  return {
    source: limiter('per-source', limits.source),
    device: limiter('per-device', limits.device),
    close: () => client?.disconnect(),
  };
}
