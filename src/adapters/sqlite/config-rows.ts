/** Row ↔ model conversion for remote configuration, shared by the read side and the writer. */
import type { ConfigKey, ConfigPatch, DeviceConfig } from '../../model/config.js';
import type { ChangeSource, ConfigScope, ConfigVersion, ScopeConfig } from '../../ports/config-store.js';

/** The fleet's row in `config_scopes`; device ids cannot start with `*`. */
export const FLEET_SCOPE = '*';

export const scopeKey = (scope: ConfigScope): string => scope ?? FLEET_SCOPE;
export const scopeOf = (key: string): ConfigScope => (key === FLEET_SCOPE ? null : key);

export interface ScopeRow {
  scope: string;
  config: string;
  versions: string;
  version: number;
  updated_at: number;
}

export interface VersionRow {
  version: number;
  scope: string;
  changes: string;
  result: string;
  actor: string;
  reason: string | null;
  source: string;
  time: number;
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
    values: JSON.parse(r.config) as DeviceConfig,
    versions: JSON.parse(r.versions) as Partial<Record<ConfigKey, number>>,
    version: r.version,
    updatedAt: r.updated_at,
  };
}

export function versionFromRow(r: VersionRow): ConfigVersion {
  return {
    version: r.version,
    scope: scopeOf(r.scope),
    changes: JSON.parse(r.changes) as ConfigPatch,
    result: JSON.parse(r.result) as DeviceConfig,
    actor: r.actor,
    reason: r.reason,
    source: r.source as ChangeSource,
    time: r.time,
  };
}
