/**
 * Every setting: where it goes (section and field), its public name (settings-file key, and the
 * `--flag` made from it), its environment variable, its parser and its default.
 */
import {
  aesBlocks,
  bool,
  duration,
  hex,
  int,
  mqttUrl,
  mqttUserList,
  oneOf,
  type Parser,
  proxyList,
  rateSpec,
  replayMode,
  str,
  topicPrefix,
  urlWith,
} from './parsers.js';
import type {
  LogLevel,
  Mode,
  MqttAnonymous,
  ReplayStoreKind,
  Settings,
  UnsecuredControl,
} from './sections.js';

/** Values as parsed, before the ones that depend on others are resolved (load-settings.ts). */
export type RawSettings = {
  [S in keyof Settings]: {
    [F in keyof Settings[S]]: F extends 'unsecuredControl'
      ? UnsecuredControl | undefined
      : F extends 'keyDir'
        ? string | undefined
        : Settings[S][F];
  };
};

export interface Spec<K extends string = string> {
  section: keyof RawSettings;
  field: string;
  key: K;
  env: string;
  parse: Parser<unknown>;
  defaultValue: unknown;
}

function spec<S extends keyof RawSettings, F extends keyof RawSettings[S] & string, K extends string>(
  section: S,
  field: F,
  key: K,
  env: string,
  parse: Parser<RawSettings[S][F]>,
  defaultValue: RawSettings[S][F],
): Spec<K> {
  return { section, field, key, env, parse, defaultValue };
}

export const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const SPECS = [
  spec('server', 'mode', 'mode', 'ECOWATT_MODE', oneOf<Mode>('development', 'production'), 'development'),
  spec('server', 'host', 'host', 'ECOWATT_HOST', str, '0.0.0.0'),
  spec('server', 'port', 'port', 'ECOWATT_PORT', int(0, 65535), 5001),
  spec('storage', 'dataDir', 'dataDir', 'ECOWATT_DATA_DIR', str, './data'),
  spec('server', 'adminToken', 'adminToken', 'ECOWATT_ADMIN_TOKEN', str, undefined),
  spec('devices', 'fleetHmacKey', 'fleetHmacKey', 'ECOWATT_FLEET_HMAC_KEY', hex(32), undefined),
  spec('devices', 'fleetAesKey', 'fleetAesKey', 'ECOWATT_FLEET_AES_KEY', hex(16), undefined),
  spec('devices', 'fleetIv', 'fleetIv', 'ECOWATT_FLEET_IV', hex(16), undefined),
  spec('devices', 'fleetKeyFile', 'fleetKeyFile', 'ECOWATT_FLEET_KEY_FILE', str, undefined),
  spec('server', 'bodyLimit', 'bodyLimit', 'ECOWATT_BODY_LIMIT', int(1024, 16 * 1024 * 1024), 64 * 1024),
  spec(
    'server',
    'requestTimeoutMs',
    'requestTimeoutMs',
    'ECOWATT_REQUEST_TIMEOUT_MS',
    int(100, 600_000),
    30_000,
  ),
  spec('server', 'logLevel', 'logLevel', 'ECOWATT_LOG_LEVEL', oneOf<LogLevel>(...LOG_LEVELS), 'info'),
  spec('devices', 'pollIntervalMs', 'pollIntervalMs', 'ECOWATT_POLL_INTERVAL_MS', int(100, 3_600_000), 2000),
  spec(
    'devices',
    'defaultAllowUnsecured',
    'defaultAllowUnsecured',
    'ECOWATT_DEFAULT_ALLOW_UNSECURED',
    bool,
    false,
  ),
  spec('devices', 'defaultReplayMode', 'defaultReplayMode', 'ECOWATT_REPLAY_MODE', replayMode, {
    kind: 'strict',
  }),
  spec(
    'devices',
    'counterResetThreshold',
    'counterResetThreshold',
    'ECOWATT_COUNTER_RESET_THRESHOLD',
    int(1, 2 ** 31),
    1000,
  ),
  spec(
    'devices',
    'nonceGapEventThreshold',
    'nonceGapEventThreshold',
    'ECOWATT_NONCE_GAP_EVENT_THRESHOLD',
    int(1, 2 ** 31),
    10,
  ),
  spec(
    'devices',
    'unsecuredControl',
    'unsecuredControl',
    'ECOWATT_UNSECURED_CONTROL',
    oneOf<UnsecuredControl>('off', 'e84f720', '1.3', 'all'),
    undefined,
  ),
  spec('server', 'trustProxy', 'trustProxy', 'ECOWATT_TRUST_PROXY', proxyList, undefined),
  spec('server', 'metricsToken', 'metricsToken', 'ECOWATT_METRICS_TOKEN', str, undefined),
  spec(
    'devices',
    'controlSourceWindowSeconds',
    'controlSourceWindowSeconds',
    'ECOWATT_CONTROL_SOURCE_WINDOW_SECONDS',
    int(1, 30 * 86_400),
    900,
  ),
  spec(
    'storage',
    'sqliteSynchronous',
    'sqliteSynchronous',
    'ECOWATT_SQLITE_SYNCHRONOUS',
    oneOf<'FULL' | 'NORMAL'>('FULL', 'NORMAL'),
    'FULL',
  ),
  spec(
    'storage',
    'groupCommitMaxBatch',
    'groupCommitMaxBatch',
    'ECOWATT_GROUP_COMMIT_MAX_BATCH',
    int(1, 100_000),
    1024,
  ),
  spec('devices', 'masterKey', 'masterKey', 'ECOWATT_MASTER_KEY', hex(32), undefined),
  spec('devices', 'masterKeyFile', 'masterKeyFile', 'ECOWATT_MASTER_KEY_FILE', str, undefined),
  spec('mqtt', 'embedded', 'mqttEmbedded', 'ECOWATT_MQTT_EMBEDDED', bool, undefined),
  spec('mqtt', 'url', 'mqttUrl', 'ECOWATT_MQTT_URL', mqttUrl, undefined),
  spec('mqtt', 'host', 'mqttHost', 'ECOWATT_MQTT_HOST', str, '127.0.0.1'),
  spec('mqtt', 'port', 'mqttPort', 'ECOWATT_MQTT_PORT', int(0, 65535), undefined),
  spec(
    'mqtt',
    'anonymous',
    'mqttAnonymous',
    'ECOWATT_MQTT_ANONYMOUS',
    oneOf<MqttAnonymous>('loopback', 'any', 'none'),
    'loopback',
  ),
  spec('mqtt', 'users', 'mqttUsers', 'ECOWATT_MQTT_USERS', mqttUserList, undefined),
  spec('mqtt', 'usersFile', 'mqttUsersFile', 'ECOWATT_MQTT_USERS_FILE', str, undefined),
  spec('mqtt', 'ca', 'mqttCa', 'ECOWATT_MQTT_CA', str, undefined),
  spec('mqtt', 'cert', 'mqttCert', 'ECOWATT_MQTT_CERT', str, undefined),
  spec('mqtt', 'key', 'mqttKey', 'ECOWATT_MQTT_KEY', str, undefined),
  spec('mqtt', 'topicPrefix', 'mqttTopicPrefix', 'ECOWATT_MQTT_TOPIC_PREFIX', topicPrefix, 'ecowatt'),
  spec('mqtt', 'haDiscovery', 'mqttHaDiscovery', 'ECOWATT_MQTT_HA_DISCOVERY', bool, true),
  spec('mqtt', 'haPrefix', 'mqttHaPrefix', 'ECOWATT_MQTT_HA_PREFIX', topicPrefix, 'homeassistant'),
  spec('mqtt', 'clientId', 'mqttClientId', 'ECOWATT_MQTT_CLIENT_ID', str, undefined),
  spec('mqtt', 'stallSeconds', 'mqttStallSeconds', 'ECOWATT_MQTT_STALL_SECONDS', int(1, 86_400), 60),
  spec(
    'storage',
    'databaseUrl',
    'databaseUrl',
    'ECOWATT_DATABASE_URL',
    urlWith(['postgres:', 'postgresql:'], 'postgres://user:pass@host:5432/ecowatt'),
    undefined,
  ),
  spec('storage', 'databasePoolSize', 'databasePoolSize', 'ECOWATT_DATABASE_POOL_SIZE', int(1, 1000), 16),
  spec(
    'storage',
    'redisUrl',
    'redisUrl',
    'ECOWATT_REDIS_URL',
    urlWith(['redis:', 'rediss:'], 'redis://host:6379'),
    undefined,
  ),
  spec(
    'storage',
    'replayStore',
    'replayStore',
    'ECOWATT_REPLAY_STORE',
    oneOf<ReplayStoreKind>('database', 'redis'),
    'database',
  ),
  spec('storage', 'redisKeyPrefix', 'redisKeyPrefix', 'ECOWATT_REDIS_KEY_PREFIX', str, 'ecowatt:'),
  spec('storage', 'retentionDays', 'retentionDays', 'ECOWATT_RETENTION_DAYS', int(0, 36_500), 0),
  spec(
    'storage',
    'partitionIntervalMs',
    'partitionInterval',
    'ECOWATT_PARTITION_INTERVAL',
    duration(3_600_000, 366 * 86_400_000),
    86_400_000,
  ),
  spec('firmware', 'keyDir', 'keyDir', 'ECOWATT_KEY_DIR', str, undefined),
  spec(
    'firmware',
    'maxBytes',
    'firmwareMaxBytes',
    'ECOWATT_FIRMWARE_MAX_BYTES',
    int(1024, 64 * 1024 * 1024),
    4 * 1024 * 1024,
  ),
  spec('firmware', 'chunkSize', 'firmwareChunkSize', 'ECOWATT_FIRMWARE_CHUNK_SIZE', aesBlocks, 1024),
  spec(
    'alerts',
    'webhookUrl',
    'alertWebhookUrl',
    'ECOWATT_ALERT_WEBHOOK_URL',
    urlWith(['http:', 'https:'], 'https://host/path'),
    undefined,
  ),
  spec(
    'alerts',
    'cooldownSeconds',
    'alertCooldownSeconds',
    'ECOWATT_ALERT_COOLDOWN_SECONDS',
    int(1, 86_400),
    300,
  ),
  spec('alerts', 'windowSeconds', 'alertWindowSeconds', 'ECOWATT_ALERT_WINDOW_SECONDS', int(1, 86_400), 60),
  spec('alerts', 'macFailures', 'alertMacFailures', 'ECOWATT_ALERT_MAC_FAILURES', int(1, 1_000_000), 5),
  spec('alerts', 'replays', 'alertReplays', 'ECOWATT_ALERT_REPLAYS', int(1, 1_000_000), 5),
  spec(
    'alerts',
    'silentIntervals',
    'alertSilentIntervals',
    'ECOWATT_ALERT_SILENT_INTERVALS',
    int(0, 10_000),
    4,
  ),
  spec('limits', 'source', 'rateLimitSource', 'ECOWATT_RATE_LIMIT_SOURCE', rateSpec, {
    rate: 200,
    burst: 400,
  }),
  spec('limits', 'device', 'rateLimitDevice', 'ECOWATT_RATE_LIMIT_DEVICE', rateSpec, { rate: 5, burst: 20 }),
  spec('tls', 'port', 'tlsPort', 'ECOWATT_TLS_PORT', int(0, 65535), 5443),
  spec('tls', 'cert', 'tlsCert', 'ECOWATT_TLS_CERT', str, undefined),
  spec('tls', 'key', 'tlsKey', 'ECOWATT_TLS_KEY', str, undefined),
  spec('tls', 'clientCa', 'tlsClientCa', 'ECOWATT_TLS_CLIENT_CA', str, undefined),
  spec('server', 'workers', 'workers', 'ECOWATT_WORKERS', int(1, 64), 1),
  spec('commands', 'leaseSeconds', 'commandLeaseSeconds', 'ECOWATT_COMMAND_LEASE_SECONDS', int(1, 3600), 60),
  spec('commands', 'maxAttempts', 'commandMaxAttempts', 'ECOWATT_COMMAND_MAX_ATTEMPTS', int(1, 20), 3),
  spec(
    'operators',
    'sessionIdleMinutes',
    'sessionIdleMinutes',
    'ECOWATT_SESSION_IDLE_MINUTES',
    int(1, 7 * 1440),
    30,
  ),
  spec('operators', 'sessionMaxHours', 'sessionMaxHours', 'ECOWATT_SESSION_MAX_HOURS', int(1, 720), 12),
  spec('operators', 'signInMaxFailures', 'signInMaxFailures', 'ECOWATT_SIGNIN_MAX_FAILURES', int(1, 1000), 5),
  spec(
    'operators',
    'signInLockSeconds',
    'signInLockSeconds',
    'ECOWATT_SIGNIN_LOCK_SECONDS',
    int(1, 86_400),
    60,
  ),
] as const;

/** A setting's public name: its settings-file key (and, in kebab case, its flag). */
export type SettingKey = (typeof SPECS)[number]['key'];

export const SETTINGS_TABLE = SPECS.map((s) => ({ key: s.key, env: s.env, defaultValue: s.defaultValue }));
