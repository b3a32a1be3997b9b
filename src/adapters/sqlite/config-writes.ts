/**
 * Remote-configuration writes, run by the SQLite writer inside its group-committed transactions.
 * The cross-key rules are checked here, on the rows read in the same transaction, so two
 * concurrent changes cannot together produce a configuration that neither alone would allow.
 */
import type { Database } from 'better-sqlite3';
import { applyPatch, checkConfig, mergeConfig, sameValue } from '../../config/config-schema.js';
import type { ConfigKey, ConfigPatch } from '../../model/config.js';
import type { FieldErrors } from '../../model/field-errors.js';
import type {
  ConfigChangeOutcome,
  ConfigChangeRequest,
  OfferedValue,
  ReportedValue,
} from '../../ports/config-store.js';
import { FLEET_SCOPE, type ScopeRow, scopeFromRow, scopeKey } from './config-rows.js';

export function configWrites(db: Database) {
  const p = (sql: string) => db.prepare(sql);
  const st = {
    scope: p('SELECT * FROM config_scopes WHERE scope = ?'),
    deviceScopes: p(`SELECT * FROM config_scopes WHERE scope != '${FLEET_SCOPE}' ORDER BY scope`),
    insertVersion: p(`INSERT INTO config_changes (scope, changes, result, actor, reason, source, time)
      VALUES (?, ?, ?, ?, ?, ?, ?)`),
    upsertScope:
      p(`INSERT INTO config_scopes (scope, config, versions, version, updated_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT(scope) DO UPDATE SET config = excluded.config, versions = excluded.versions,
      version = excluded.version, updated_at = excluded.updated_at`),
    insertAudit: p(`INSERT INTO audit_log (time, actor, action, device_id, reason, detail)
      VALUES (?, ?, ?, ?, ?, ?)`),
    // A value answered again keeps its first delivery time: the device applies it after that.
    upsertDelivery:
      p(`INSERT INTO config_deliveries (device_id, key, value, version, first_at, last_at, offers)
      VALUES (@device, @key, @value, @version, @time, @time, 1)
      ON CONFLICT(device_id, key) DO UPDATE SET
        first_at = CASE WHEN value = excluded.value THEN first_at ELSE excluded.first_at END,
        offers = CASE WHEN value = excluded.value THEN offers + 1 ELSE 1 END,
        version = excluded.version, last_at = excluded.last_at, value = excluded.value`),
    upsertReport: p(`INSERT INTO config_reports (device_id, key, value, outcome, basis, at)
      VALUES (@device, @key, @value, @outcome, @basis, @time)
      ON CONFLICT(device_id, key) DO UPDATE SET value = excluded.value, outcome = excluded.outcome,
        basis = excluded.basis, at = excluded.at`),
  };
  const load = (key: string) => scopeFromRow(st.scope.get(key) as ScopeRow | undefined);

  function changeConfig(req: ConfigChangeRequest): ConfigChangeOutcome {
    const key = scopeKey(req.scope);
    const current = load(key);
    const values = applyPatch(current.values, req.patch);
    const changes: ConfigPatch = {};
    for (const [k, v] of Object.entries(req.patch) as [ConfigKey, ConfigPatch[ConfigKey]][]) {
      if (!sameValue(current.values[k], values[k])) changes[k] = v;
    }
    const changed = Object.keys(changes);
    if (changed.length === 0) return { ok: true, version: null, values };

    let fields: FieldErrors;
    const devices: Record<string, FieldErrors> = {};
    if (req.scope === null) {
      fields = checkConfig(values, changed);
      for (const row of st.deviceScopes.all() as ScopeRow[]) {
        const errors = checkConfig(mergeConfig(values, scopeFromRow(row).values), changed);
        if (Object.keys(errors).length > 0) devices[row.scope] = errors;
      }
      const broken = Object.keys(devices);
      if (broken.length > 0 && Object.keys(fields).length === 0) {
        fields = {
          [changed[0]]: `would give ${broken.length} device(s) with their own overrides an unsafe configuration: ${broken.join(', ')} (details.devices)`,
        };
      }
    } else {
      fields = checkConfig(mergeConfig(load(FLEET_SCOPE).values, values), changed);
    }
    if (Object.keys(fields).length > 0) return { ok: false, fields, devices };

    const version = Number(
      st.insertVersion.run(
        key,
        JSON.stringify(changes),
        JSON.stringify(values),
        req.actor,
        req.reason,
        req.source,
        req.time,
      ).lastInsertRowid,
    );
    const versions: Record<string, number> = { ...current.versions };
    for (const k of changed) {
      if (changes[k as ConfigKey] === null) delete versions[k];
      else versions[k] = version;
    }
    st.upsertScope.run(key, JSON.stringify(values), JSON.stringify(versions), version, req.time);
    st.insertAudit.run(
      req.time,
      req.actor,
      req.source === 'withdraw' ? 'config.withdrawn' : 'config.changed',
      req.scope,
      req.reason,
      JSON.stringify({
        version,
        scope: req.scope === null ? 'fleet' : 'device',
        changes,
        source: req.source,
      }),
    );
    return { ok: true, version, values };
  }

  function recordConfigDeliveries(
    deviceId: string,
    offered: readonly OfferedValue[],
    time: number,
  ): undefined {
    for (const o of offered) {
      st.upsertDelivery.run({
        device: deviceId,
        key: o.key,
        value: JSON.stringify(o.value),
        version: o.version,
        time,
      });
    }
    return undefined;
  }

  function recordConfigReports(deviceId: string, reports: readonly ReportedValue[], time: number): undefined {
    for (const r of reports) {
      st.upsertReport.run({
        device: deviceId,
        key: r.key,
        value: JSON.stringify(r.value),
        outcome: r.outcome,
        basis: r.basis,
        time,
      });
    }
    return undefined;
  }

  return { changeConfig, recordConfigDeliveries, recordConfigReports };
}
