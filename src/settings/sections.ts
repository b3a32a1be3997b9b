/**
 * The settings, in the sections the modules are given: each module receives its own section (or
 * the few it needs), never the whole set. The names of the environment variables, flags and
 * settings-file keys are in specs.ts.
 */
import type { ReplayMode } from '../model/replay.js';
import type { RateSpec } from './parsers.js';

export type Mode = 'development' | 'production';
/** Which firmware generations may make unsigned control requests without a per-device policy. */
export type UnsecuredControl = 'off' | 'e84f720' | '1.3' | 'all';
export type ReplayStoreKind = 'database' | 'redis';
/** Who may connect to the embedded broker without credentials (to subscribe only). */
export type MqttAnonymous = 'loopback' | 'any' | 'none';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface ServerSettings {
  mode: Mode;
  host: string;
  port: number;
  /** `off`: no break-glass token (operators sign in or use API keys only). */
  adminToken: string | undefined;
  bodyLimit: number;
  /**
   * Longest time a client may take to send one whole request (headers and body): a client that
   * trickles bytes is cut off (408) instead of holding a connection for ever.
   */
  requestTimeoutMs: number;
  logLevel: LogLevel;
  /**
   * Proxies whose `X-Forwarded-For` names the client (addresses, CIDRs, range names), so source
   * limits and control-request binding see the device, not the load balancer; none when undefined.
   */
  trustProxy: string[] | undefined;
  /** A bearer token `GET /metrics` then requires (open when undefined). */
  metricsToken: string | undefined;
  workers: number;
}

/** How devices are admitted: fleet keys, the policy of new devices, replay and control rules. */
export interface DeviceSettings {
  fleetHmacKey: string | undefined;
  fleetAesKey: string | undefined;
  fleetIv: string | undefined;
  fleetKeyFile: string | undefined;
  /** The key that seals per-device keys at rest (or its file). */
  masterKey: string | undefined;
  masterKeyFile: string | undefined;
  pollIntervalMs: number;
  defaultAllowUnsecured: boolean;
  defaultReplayMode: ReplayMode;
  counterResetThreshold: number;
  nonceGapEventThreshold: number;
  /** As in force: when not set, `all` in development and `off` in production. */
  unsecuredControl: UnsecuredControl;
  /** An unsigned control request must come from the address of the latest authenticated upload this recently. */
  controlSourceWindowSeconds: number;
}

export interface CommandSettings {
  leaseSeconds: number;
  maxAttempts: number;
}

export interface StorageSettings {
  /** Absolute. */
  dataDir: string;
  sqliteSynchronous: 'FULL' | 'NORMAL';
  groupCommitMaxBatch: number;
  /** `postgres://…`: PostgreSQL instead of the SQLite file (production profile, several instances). */
  databaseUrl: string | undefined;
  databasePoolSize: number;
  redisUrl: string | undefined;
  /** Where replay state is checked and advanced (see src/ports/replay-store.ts). */
  replayStore: ReplayStoreKind;
  redisKeyPrefix: string;
  /** Readings and uploads older than this many days are deleted (0 = kept forever). */
  retentionDays: number;
  /** PostgreSQL: the time span of one readings partition (retention drops whole partitions). */
  partitionIntervalMs: number;
}

export interface MqttSettings {
  /** `undefined`: on unless `url` names an external broker. */
  embedded: boolean | undefined;
  url: string | undefined;
  host: string;
  /** `undefined`: 1883, or the next free port when 1883 is taken. */
  port: number | undefined;
  anonymous: MqttAnonymous;
  users: string | undefined;
  usersFile: string | undefined;
  ca: string | undefined;
  cert: string | undefined;
  key: string | undefined;
  topicPrefix: string;
  haDiscovery: boolean;
  haPrefix: string;
  clientId: string | undefined;
  stallSeconds: number;
}

export interface FirmwareSettings {
  /** Firmware signing and encryption keys; absolute (default `<dataDir>/keys`). */
  keyDir: string;
  maxBytes: number;
  chunkSize: number;
}

export interface AlertingSettings {
  webhookUrl: string | undefined;
  cooldownSeconds: number;
  windowSeconds: number;
  macFailures: number;
  replays: number;
  silentIntervals: number;
}

/** Request rates, per source address and per device (`null`: off). */
export interface LimitSettings {
  source: RateSpec | null;
  device: RateSpec | null;
}

export interface TlsSettings {
  port: number;
  cert: string | undefined;
  key: string | undefined;
  clientCa: string | undefined;
}

/** Operator accounts: dashboard sessions and how failed sign-ins are slowed. */
export interface OperatorSettings {
  /** A session unused this long ends. */
  sessionIdleMinutes: number;
  /** A session ends this long after sign-in, used or not. */
  sessionMaxHours: number;
  /** Failed sign-ins in a row (per account, per source address) before sign-ins are locked. */
  signInMaxFailures: number;
  /** The first lock; each further failure doubles it, up to an hour (or this, if longer). */
  signInLockSeconds: number;
}

export interface Settings {
  server: ServerSettings;
  operators: OperatorSettings;
  devices: DeviceSettings;
  commands: CommandSettings;
  storage: StorageSettings;
  mqtt: MqttSettings;
  firmware: FirmwareSettings;
  alerts: AlertingSettings;
  limits: LimitSettings;
  tls: TlsSettings;
}
