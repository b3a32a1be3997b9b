/** Rows of remote configuration and their models, the same for SQLite and PostgreSQL. */
import type {
  ConfigKey,
  ConfigPatch,
  ConfigReport,
  ConfigValue,
  Delivery,
  DeviceConfig,
} from '../../model/config.js';
import type { ChangeSource, ConfigScope, ConfigVersion, ScopeConfig } from '../../ports/config-store.js';
import { json } from './row-values.js';

/** The fleet's row in `config_scopes`; device ids cannot start with `*`. */
export const FLEET_SCOPE = '*';

export const scopeKey = (scope: ConfigScope): string => scope ?? FLEET_SCOPE;
export const scopeOf = (key: string): ConfigScope => (key === FLEET_SCOPE ? null : key);

export interface ScopeRow {
  scope: string;
  config: unknown;
  versions: unknown;
  version: number;
  updated_at: number;
}

export interface VersionRow {
  version: number;
  scope: string;
  changes: unknown;
  result: unknown;
  actor: string;
  reason: string | null;
  source: string;
  time: number;
}

export interface DeliveryRow {
  key: string;
  value: unknown;
  version: number;
  first_at: number;
  last_at: number;
  offers: number;
}

export interface ReportRow {
  key: string;
  value: unknown;
  outcome: ConfigReport['outcome'];
  basis: ConfigReport['basis'];
  at: number;
}

export const EMPTY_SCOPE: ScopeConfig = Object.freeze({
  values: {},
  versions: {},
  version: 0,
  updatedAt: null,
});

export function scopeFromRow(r: ScopeRow | undefined): ScopeConfig {
  if (!r) return EMPTY_SCOPE;
  return {
    values: json<DeviceConfig>(r.config),
    versions: json<Partial<Record<ConfigKey, number>>>(r.versions),
    version: r.version,
    updatedAt: r.updated_at,
  };
}

export function versionFromRow(r: VersionRow): ConfigVersion {
  return {
    version: r.version,
    scope: scopeOf(r.scope),
    changes: json<ConfigPatch>(r.changes),
    result: json<DeviceConfig>(r.result),
    actor: r.actor,
    reason: r.reason,
    source: r.source as ChangeSource,
    time: r.time,
  };
}

export function deliveryFromRow(r: DeliveryRow): Delivery {
  return {
    value: json<ConfigValue>(r.value),
    version: r.version,
    firstAt: r.first_at,
    lastAt: r.last_at,
    offers: r.offers,
  };
}

export function reportFromRow(r: ReportRow): ConfigReport {
  return { value: json<ConfigValue>(r.value), outcome: r.outcome, basis: r.basis, at: r.at };
}
