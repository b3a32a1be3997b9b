/**
 * Settings: defaults < optional JSON file < ECOWATT_* environment < CLI flags, validated once at
 * start-up. A bad value stops the process with a message naming the setting.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPLAY_MODE_EXPECTED, type ReplayMode, readReplayMode } from './model/replay.js';

export type Mode = 'development' | 'production';
/** Which firmware generations may make unsigned control requests without a per-device policy. */
export type UnsecuredControl = 'off' | 'e84f720' | '1.3' | 'all';

export interface Settings {
  mode: Mode;
  host: string;
  port: number;
  dataDir: string;
  adminToken: string | undefined;
  fleetHmacKey: string | undefined;
  fleetAesKey: string | undefined;
  fleetIv: string | undefined;
  fleetKeyFile: string | undefined;
  bodyLimit: number;
  /**
   * Longest time a client may take to send one whole request (headers and body): a client that
   * trickles bytes is cut off (408) instead of holding a connection for ever.
   */
  requestTimeoutMs: number;
  logLevel: string;
  pollIntervalMs: number;
  defaultAllowUnsecured: boolean;
  defaultReplayMode: ReplayMode;
  counterResetThreshold: number;
  nonceGapEventThreshold: number;
  /** `undefined` until loaded: `all` in development, `off` in production. */
  unsecuredControl: UnsecuredControl | undefined;
  /**
   * Proxies whose `X-Forwarded-For` names the client (addresses or CIDRs, comma-separated), so
   * source limits and control-request binding see the device, not the load balancer.
   */
  trustProxy: string | undefined;
  /** An unsigned control request must come from the address of the latest authenticated upload this recently. */
  controlSourceWindowSeconds: number;
  sqliteSynchronous: 'FULL' | 'NORMAL';
  groupCommitMaxBatch: number;
  masterKey: string | undefined;
  masterKeyFile: string | undefined;
  /** Firmware key directory; `undefined`: `<dataDir>/keys`. */
  keyDir: string | undefined;
  firmwareMaxBytes: number;
  firmwareChunkSize: number;
  /** `undefined`: on unless `mqttUrl` names an external broker. */
  mqttEmbedded: boolean | undefined;
  mqttUrl: string | undefined;
  mqttHost: string;
  /** `undefined`: 1883, or the next free port when 1883 is taken. */
  mqttPort: number | undefined;
  mqttAnonymous: MqttAnonymous;
  mqttUsers: string | undefined;
  mqttUsersFile: string | undefined;
  mqttCa: string | undefined;
  mqttCert: string | undefined;
  mqttKey: string | undefined;
  mqttTopicPrefix: string;
  mqttHaDiscovery: boolean;
  mqttHaPrefix: string;
  mqttClientId: string | undefined;
  mqttStallSeconds: number;
  /** `postgres://…`: PostgreSQL instead of the SQLite file (production profile, several instances). */
  databaseUrl: string | undefined;
  databasePoolSize: number;
  redisUrl: string | undefined;
  /** Where replay state is checked and advanced (see src/ports/replay-store.ts). */
  replayStore: ReplayStoreKind;
  redisKeyPrefix: string;
  /** Readings and uploads older than this many days are deleted (0 = kept forever). */
  retentionDays: number;
  alertWebhookUrl: string | undefined;
  alertCooldownSeconds: number;
  alertWindowSeconds: number;
  alertMacFailures: number;
  alertReplays: number;
  alertSilentIntervals: number;
  rateLimitSource: RateSpec | null;
  rateLimitDevice: RateSpec | null;
  tlsPort: number;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  tlsClientCa: string | undefined;
  commandLeaseSeconds: number;
  workers: number;
  commandMaxAttempts: number;
}

export type ReplayStoreKind = 'database' | 'redis';

/** Who may connect to the embedded broker without credentials (to subscribe only). */
export type MqttAnonymous = 'loopback' | 'any' | 'none';

export class SettingsError extends Error {}

/** A token bucket: `rate` per second, bursts of `burst`. */
export interface RateSpec {
  rate: number;
  burst: number;
}

type Parser<T> = (raw: string | number | boolean, name: string) => T;

const fail = (name: string, why: string): never => {
  throw new SettingsError(`Invalid setting ${name}: ${why}`);
};

const str: Parser<string> = (raw, name) =>
  typeof raw === 'string' && raw.length > 0 ? raw : fail(name, 'expected a non-empty string');

const int =
  (min: number, max: number): Parser<number> =>
  (raw, name) => {
    const n = typeof raw === 'number' ? raw : /^-?\d+$/.test(String(raw).trim()) ? Number(raw) : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max) fail(name, `expected an integer from ${min} to ${max}`);
    return n;
  };

const bool: Parser<boolean> = (raw, name) => {
  if (typeof raw === 'boolean') return raw;
  const s = String(raw).trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off'].includes(s)) return false;
  return fail(name, 'expected true or false');
};

const oneOf =
  <T extends string>(...values: T[]): Parser<T> =>
  (raw, name) => {
    const s = String(raw).trim();
    const hit = values.find((v) => v.toLowerCase() === s.toLowerCase());
    return hit ?? fail(name, `expected one of ${values.join(', ')}`);
  };

const hex =
  (bytes: number): Parser<string> =>
  (raw, name) => {
    const s = String(raw).trim();
    if (!/^[0-9a-fA-F]+$/.test(s) || s.length !== bytes * 2) fail(name, `expected ${bytes} bytes as hex`);
    return s.toLowerCase();
  };

/** Firmware chunks are whole AES blocks (16 bytes); field devices need 1024. */
const aesBlocks: Parser<number> = (raw, name) => {
  const n = int(16, 65_536)(raw, name);
  return n % 16 === 0 ? n : fail(name, 'expected a multiple of 16');
};

/** `R/B` (R tokens per second, bursts of B), or `off`. */
const rateSpec: Parser<RateSpec | null> = (raw, name) => {
  const s = String(raw).trim().toLowerCase();
  if (s === 'off' || s === '0') return null;
  const m = /^(\d+(?:\.\d+)?)\/(\d+)$/.exec(s);
  if (m && Number(m[1]) > 0 && Number(m[2]) >= 1) return { rate: Number(m[1]), burst: Number(m[2]) };
  return fail(name, 'expected "rate/burst" (e.g. 200/400) or "off"');
};

/** The rule is the model's (`model/replay.ts`); a bad value is a settings error naming its source. */
const replayMode: Parser<ReplayMode> = (raw, name) => readReplayMode(raw) ?? fail(name, REPLAY_MODE_EXPECTED);

const mqttUrl: Parser<string> = (raw, name) => {
  const s = String(raw).trim();
  let url: URL | undefined;
  try {
    url = new URL(s);
  } catch {
    url = undefined;
  }
  if (!url || !['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(url.protocol) || !url.hostname) {
    fail(name, 'expected a broker URL such as mqtt://user:pass@host:1883 or mqtts://host:8883');
  }
  return s;
};

/** `user:pass,user2:pass2`; a password may hold ':' but not ','. */
const mqttUserList: Parser<string> = (raw, name) => {
  const s = String(raw).trim();
  for (const entry of s.split(',')) {
    const colon = entry.indexOf(':');
    if (colon <= 0 || colon === entry.length - 1)
      fail(name, 'expected user:password pairs separated by commas');
  }
  return s;
};

/** A topic prefix subscribers can rely on: no wildcards, no empty level, not a `$` system topic. */
const topicPrefix: Parser<string> = (raw, name) => {
  const s = String(raw).trim();
  const levels = s.split('/');
  if (s.startsWith('$') || levels.some((l) => l === '' || /[+#]/.test(l) || l.includes('\u0000'))) {
    fail(name, 'expected topic levels separated by "/", without "+", "#", empty levels or a leading "$"');
  }
  return s;
};

const urlWith =
  (protocols: readonly string[], example: string): Parser<string> =>
  (raw, name) => {
    const s = String(raw).trim();
    let url: URL | undefined;
    try {
      url = new URL(s);
    } catch {
      url = undefined;
    }
    if (!url || !protocols.includes(url.protocol)) fail(name, `expected a URL such as ${example}`);
    return s;
  };

interface Spec<K extends keyof Settings> {
  key: K;
  env: string;
  parse: Parser<Settings[K]>;
  defaultValue: Settings[K];
}

function spec<K extends keyof Settings>(
  key: K,
  env: string,
  parse: Parser<Settings[K]>,
  defaultValue: Settings[K],
): Spec<K> {
  return { key, env, parse, defaultValue };
}

const SPECS = [
  spec('mode', 'ECOWATT_MODE', oneOf<Mode>('development', 'production'), 'development'),
  spec('host', 'ECOWATT_HOST', str, '0.0.0.0'),
  spec('port', 'ECOWATT_PORT', int(0, 65535), 5001),
  spec('dataDir', 'ECOWATT_DATA_DIR', str, './data'),
  spec('adminToken', 'ECOWATT_ADMIN_TOKEN', str, undefined),
  spec('fleetHmacKey', 'ECOWATT_FLEET_HMAC_KEY', hex(32), undefined),
  spec('fleetAesKey', 'ECOWATT_FLEET_AES_KEY', hex(16), undefined),
  spec('fleetIv', 'ECOWATT_FLEET_IV', hex(16), undefined),
  spec('fleetKeyFile', 'ECOWATT_FLEET_KEY_FILE', str, undefined),
  spec('bodyLimit', 'ECOWATT_BODY_LIMIT', int(1024, 16 * 1024 * 1024), 64 * 1024),
  spec('requestTimeoutMs', 'ECOWATT_REQUEST_TIMEOUT_MS', int(100, 600_000), 30_000),
  spec(
    'logLevel',
    'ECOWATT_LOG_LEVEL',
    oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
    'info',
  ),
  spec('pollIntervalMs', 'ECOWATT_POLL_INTERVAL_MS', int(100, 3_600_000), 2000),
  spec('defaultAllowUnsecured', 'ECOWATT_DEFAULT_ALLOW_UNSECURED', bool, false),
  spec('defaultReplayMode', 'ECOWATT_REPLAY_MODE', replayMode, { kind: 'strict' }),
  spec('counterResetThreshold', 'ECOWATT_COUNTER_RESET_THRESHOLD', int(1, 2 ** 31), 1000),
  spec('nonceGapEventThreshold', 'ECOWATT_NONCE_GAP_EVENT_THRESHOLD', int(1, 2 ** 31), 10),
  spec(
    'unsecuredControl',
    'ECOWATT_UNSECURED_CONTROL',
    oneOf<UnsecuredControl>('off', 'e84f720', '1.3', 'all'),
    undefined,
  ),
  spec('trustProxy', 'ECOWATT_TRUST_PROXY', str, undefined),
  spec('controlSourceWindowSeconds', 'ECOWATT_CONTROL_SOURCE_WINDOW_SECONDS', int(1, 30 * 86_400), 900),
  spec('sqliteSynchronous', 'ECOWATT_SQLITE_SYNCHRONOUS', oneOf<'FULL' | 'NORMAL'>('FULL', 'NORMAL'), 'FULL'),
  spec('groupCommitMaxBatch', 'ECOWATT_GROUP_COMMIT_MAX_BATCH', int(1, 100_000), 1024),
  spec('masterKey', 'ECOWATT_MASTER_KEY', hex(32), undefined),
  spec('masterKeyFile', 'ECOWATT_MASTER_KEY_FILE', str, undefined),
  spec('mqttEmbedded', 'ECOWATT_MQTT_EMBEDDED', bool, undefined),
  spec('mqttUrl', 'ECOWATT_MQTT_URL', mqttUrl, undefined),
  spec('mqttHost', 'ECOWATT_MQTT_HOST', str, '127.0.0.1'),
  spec('mqttPort', 'ECOWATT_MQTT_PORT', int(0, 65535), undefined),
  spec(
    'mqttAnonymous',
    'ECOWATT_MQTT_ANONYMOUS',
    oneOf<MqttAnonymous>('loopback', 'any', 'none'),
    'loopback',
  ),
  spec('mqttUsers', 'ECOWATT_MQTT_USERS', mqttUserList, undefined),
  spec('mqttUsersFile', 'ECOWATT_MQTT_USERS_FILE', str, undefined),
  spec('mqttCa', 'ECOWATT_MQTT_CA', str, undefined),
  spec('mqttCert', 'ECOWATT_MQTT_CERT', str, undefined),
  spec('mqttKey', 'ECOWATT_MQTT_KEY', str, undefined),
  spec('mqttTopicPrefix', 'ECOWATT_MQTT_TOPIC_PREFIX', topicPrefix, 'ecowatt'),
  spec('mqttHaDiscovery', 'ECOWATT_MQTT_HA_DISCOVERY', bool, true),
  spec('mqttHaPrefix', 'ECOWATT_MQTT_HA_PREFIX', topicPrefix, 'homeassistant'),
  spec('mqttClientId', 'ECOWATT_MQTT_CLIENT_ID', str, undefined),
  spec('mqttStallSeconds', 'ECOWATT_MQTT_STALL_SECONDS', int(1, 86_400), 60),
  spec(
    'databaseUrl',
    'ECOWATT_DATABASE_URL',
    urlWith(['postgres:', 'postgresql:'], 'postgres://user:pass@host:5432/ecowatt'),
    undefined,
  ),
  spec('databasePoolSize', 'ECOWATT_DATABASE_POOL_SIZE', int(1, 1000), 16),
  spec('redisUrl', 'ECOWATT_REDIS_URL', urlWith(['redis:', 'rediss:'], 'redis://host:6379'), undefined),
  spec('replayStore', 'ECOWATT_REPLAY_STORE', oneOf<ReplayStoreKind>('database', 'redis'), 'database'),
  spec('redisKeyPrefix', 'ECOWATT_REDIS_KEY_PREFIX', str, 'ecowatt:'),
  spec('retentionDays', 'ECOWATT_RETENTION_DAYS', int(0, 36_500), 0),
  spec('keyDir', 'ECOWATT_KEY_DIR', str, undefined),
  spec('firmwareMaxBytes', 'ECOWATT_FIRMWARE_MAX_BYTES', int(1024, 64 * 1024 * 1024), 4 * 1024 * 1024),
  spec('firmwareChunkSize', 'ECOWATT_FIRMWARE_CHUNK_SIZE', aesBlocks, 1024),
  spec(
    'alertWebhookUrl',
    'ECOWATT_ALERT_WEBHOOK_URL',
    urlWith(['http:', 'https:'], 'https://host/path'),
    undefined,
  ),
  spec('alertCooldownSeconds', 'ECOWATT_ALERT_COOLDOWN_SECONDS', int(1, 86_400), 300),
  spec('alertWindowSeconds', 'ECOWATT_ALERT_WINDOW_SECONDS', int(1, 86_400), 60),
  spec('alertMacFailures', 'ECOWATT_ALERT_MAC_FAILURES', int(1, 1_000_000), 5),
  spec('alertReplays', 'ECOWATT_ALERT_REPLAYS', int(1, 1_000_000), 5),
  spec('alertSilentIntervals', 'ECOWATT_ALERT_SILENT_INTERVALS', int(0, 10_000), 4),
  spec('rateLimitSource', 'ECOWATT_RATE_LIMIT_SOURCE', rateSpec, { rate: 200, burst: 400 }),
  spec('rateLimitDevice', 'ECOWATT_RATE_LIMIT_DEVICE', rateSpec, { rate: 5, burst: 20 }),
  spec('tlsPort', 'ECOWATT_TLS_PORT', int(0, 65535), 5443),
  spec('tlsCert', 'ECOWATT_TLS_CERT', str, undefined),
  spec('tlsKey', 'ECOWATT_TLS_KEY', str, undefined),
  spec('tlsClientCa', 'ECOWATT_TLS_CLIENT_CA', str, undefined),
  spec('workers', 'ECOWATT_WORKERS', int(1, 64), 1),
  spec('commandLeaseSeconds', 'ECOWATT_COMMAND_LEASE_SECONDS', int(1, 3600), 60),
  spec('commandMaxAttempts', 'ECOWATT_COMMAND_MAX_ATTEMPTS', int(1, 20), 3),
] as const;

export type SettingsOverrides = Partial<Record<keyof Settings, string | number | boolean>>;

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Values from CLI flags; they win over everything else. */
  overrides?: SettingsOverrides;
  /** Path of a JSON settings file (also `ECOWATT_CONFIG`). */
  configFile?: string;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SettingsError(`Cannot read settings file ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SettingsError(`Settings file ${file} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SettingsError(`Settings file ${file} must hold a JSON object`);
  }
  const known = new Set<string>(SPECS.map((s) => s.key));
  for (const k of Object.keys(parsed)) {
    if (!known.has(k)) throw new SettingsError(`Settings file ${file}: unknown setting "${k}"`);
  }
  return parsed as Record<string, unknown>;
}

export function loadSettings(opts: LoadOptions = {}): Settings {
  const env = opts.env ?? process.env;
  const configFile = opts.configFile ?? env.ECOWATT_CONFIG;
  const file = configFile ? readConfigFile(configFile) : {};
  const out: Record<string, unknown> = {};
  for (const s of SPECS) {
    const fromFlag = opts.overrides?.[s.key];
    const fromEnv = env[s.env];
    const fromFile = file[s.key];
    let raw: string | number | boolean | undefined;
    let name: string = s.env;
    if (fromFlag !== undefined) {
      raw = fromFlag;
      name = `--${s.key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    } else if (fromEnv !== undefined && fromEnv !== '') raw = fromEnv;
    else if (fromFile !== undefined) {
      if (typeof fromFile === 'object' && fromFile !== null) {
        throw new SettingsError(`Invalid setting ${s.key} in ${configFile}: expected a scalar`);
      }
      raw = fromFile as string | number | boolean;
      name = `${s.key} (in ${configFile})`;
    }
    out[s.key] = raw === undefined ? s.defaultValue : s.parse(raw, name);
  }
  if (env.NODE_ENV === 'production' && opts.overrides?.mode === undefined && env.ECOWATT_MODE === undefined) {
    out.mode = 'production';
  }
  if (!out.logLevel || (env.LOG_LEVEL && !env.ECOWATT_LOG_LEVEL && opts.overrides?.logLevel === undefined)) {
    if (env.LOG_LEVEL)
      out.logLevel = oneOf(
        'fatal',
        'error',
        'warn',
        'info',
        'debug',
        'trace',
        'silent',
      )(env.LOG_LEVEL, 'LOG_LEVEL');
  }
  const settings = out as unknown as Settings;
  settings.dataDir = path.resolve(settings.dataDir);
  return settings;
}

const SECRET_KEYS: ReadonlySet<keyof Settings> = new Set([
  'adminToken',
  'fleetHmacKey',
  'fleetAesKey',
  'fleetIv',
  'mqttUsers',
  'masterKey',
]);

/** Settings as safe to print or log. */
export function redactSettings(settings: Settings): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(settings)) {
    out[k] = SECRET_KEYS.has(k as keyof Settings) && v !== undefined ? '[redacted]' : v;
  }
  if (settings.mqttUrl) out.mqttUrl = redactUrl(settings.mqttUrl);
  if (settings.databaseUrl) out.databaseUrl = redactUrl(settings.databaseUrl);
  if (settings.redisUrl) out.redisUrl = redactUrl(settings.redisUrl);
  return out;
}

/** A URL as safe to print: its password (if any) replaced. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '[redacted]';
  }
}

export const SETTINGS_TABLE = SPECS.map((s) => ({ key: s.key, env: s.env, defaultValue: s.defaultValue }));

/** `ECOWATT_UNSECURED_CONTROL` as in force: unset means `all` in development, `off` in production. */
export function effectiveUnsecuredControl(s: Pick<Settings, 'mode' | 'unsecuredControl'>): UnsecuredControl {
  return s.unsecuredControl ?? (s.mode === 'production' ? 'off' : 'all');
}
