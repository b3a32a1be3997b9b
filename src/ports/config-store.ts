/** Storage port of remote configuration: scopes, numbered versions, deliveries, upload cadence. */
import type {
  ConfigKey,
  ConfigPatch,
  ConfigReport,
  Delivery,
  DeviceConfig,
  UploadTrace,
} from '../model/config.js';
import type { FieldErrors } from '../model/field-errors.js';

/** `null` = the fleet default every device inherits. */
export type ConfigScope = string | null;

export interface ScopeConfig {
  values: DeviceConfig;
  /** The version that last set each key of this scope. */
  versions: Partial<Record<ConfigKey, number>>;
  /** Latest version of this scope (0 = never configured). */
  version: number;
  updatedAt: number | null;
}

export type ChangeSource = 'api' | 'mqtt' | 'withdraw';

export interface ConfigChangeRequest {
  scope: ConfigScope;
  patch: ConfigPatch;
  actor: string;
  reason: string | null;
  source: ChangeSource;
  time: number;
}

export type ConfigChangeOutcome =
  /** `version` is `null` when the patch changed nothing (no version is made). */
  | { ok: true; version: number | null; values: DeviceConfig }
  /** Nothing stored: `fields` per key; `devices` when a fleet change breaks a device's overrides. */
  | { ok: false; fields: FieldErrors; devices: Record<string, FieldErrors> };

export interface ConfigVersion {
  version: number;
  scope: ConfigScope;
  /** The keys this version set (`null` = removed from the scope). */
  changes: ConfigPatch;
  /** The scope's values after it. */
  result: DeviceConfig;
  actor: string;
  reason: string | null;
  source: ChangeSource;
  time: number;
}

export interface OfferedValue {
  key: ConfigKey;
  value: DeviceConfig[ConfigKey];
  version: number;
}

/** What a device said about one key (generation 1.3: its boot report or an acknowledgement). */
export interface ReportedValue {
  key: ConfigKey;
  value: DeviceConfig[ConfigKey];
  outcome: ConfigReport['outcome'];
  basis: ConfigReport['basis'];
}

export interface ConfigStore {
  loadScope(scope: ConfigScope): Promise<ScopeConfig>;
  /** Validates the resulting configurations and stores the change, its version and its audit entry at once. */
  changeConfig(request: ConfigChangeRequest): Promise<ConfigChangeOutcome>;
  /** Newest first: the fleet's versions, and with a device also the device's own. */
  listVersions(scope: ConfigScope, limit: number): Promise<ConfigVersion[]>;
  loadDeliveries(deviceId: string): Promise<Map<ConfigKey, Delivery>>;
  /** Records what a `/changes` answer carried (a new value restarts its delivery clock). */
  recordDeliveries(deviceId: string, offered: readonly OfferedValue[], time: number): Promise<void>;
  /** The latest report per key of a device (`ReportedValue`). */
  loadReports(deviceId: string): Promise<Map<ConfigKey, ConfigReport>>;
  /** Replaces the device's report of each key named. */
  recordReports(deviceId: string, reports: readonly ReportedValue[], time: number): Promise<void>;
  /** The device's latest accepted uploads, oldest first. */
  recentUploads(deviceId: string, limit: number): Promise<UploadTrace[]>;
}
