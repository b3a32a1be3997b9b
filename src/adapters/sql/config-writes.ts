/**
 * Remote-configuration writes, each one transaction. The cross-key rules are checked on the rows
 * read inside that transaction, under the configuration lock (SQLite: its single writer), so two
 * concurrent changes cannot together produce a configuration that neither alone would allow.
 */
import { applyPatch, checkConfig, mergeConfig, sameValue } from '../../config/config-schema.js';
import type { ConfigKey, ConfigPatch } from '../../model/config.js';
import type { FieldErrors } from '../../model/field-errors.js';
import type {
  ConfigChangeOutcome,
  ConfigChangeRequest,
  OfferedValue,
  ReportedValue,
} from '../../ports/config-store.js';
import { insertAudit } from './audit-log.js';
import { FLEET_SCOPE, type ScopeRow, scopeFromRow, scopeKey } from './config-rows.js';
import type { SqlExecutor, SqlSession } from './sql-executor.js';

const CONFIG_LOCK = { purpose: 'config' } as const;

// A value answered again keeps its first delivery time: the device applies it after that.
const UPSERT_DELIVERY = `INSERT INTO config_deliveries (device_id, key, value, version, first_at, last_at, offers)
  VALUES (?, ?, ?, ?, ?, ?, 1)
  ON CONFLICT (device_id, key) DO UPDATE SET
    first_at = CASE WHEN config_deliveries.value = excluded.value
      THEN config_deliveries.first_at ELSE excluded.first_at END,
    offers = CASE WHEN config_deliveries.value = excluded.value THEN config_deliveries.offers + 1 ELSE 1 END,
    version = excluded.version, last_at = excluded.last_at, value = excluded.value`;

const UPSERT_REPORT = `INSERT INTO config_reports (device_id, key, value, outcome, basis, at)
  VALUES (?, ?, ?, ?, ?, ?)
  ON CONFLICT (device_id, key) DO UPDATE SET value = excluded.value, outcome = excluded.outcome,
    basis = excluded.basis, at = excluded.at`;

/** The last entry of each key: an answer (or a report) carries a key once. */
const lastPerKey = <T extends { key: ConfigKey }>(items: readonly T[]): T[] => [
  ...new Map(items.map((i) => [i.key, i])).values(),
];

const loadScope = async (tx: SqlSession, key: string) =>
  scopeFromRow(await tx.one<ScopeRow>('SELECT * FROM config_scopes WHERE scope = ?', [key]));

export class ConfigWrites {
  constructor(private readonly sql: SqlExecutor) {}

  changeConfig(req: ConfigChangeRequest): Promise<ConfigChangeOutcome> {
    return this.sql.transaction(CONFIG_LOCK, async (tx) => {
      const key = scopeKey(req.scope);
      const current = await loadScope(tx, key);
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
        const scopes = await tx.all<ScopeRow>('SELECT * FROM config_scopes WHERE scope != ? ORDER BY scope', [
          FLEET_SCOPE,
        ]);
        for (const row of scopes) {
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
        fields = checkConfig(mergeConfig((await loadScope(tx, FLEET_SCOPE)).values, values), changed);
      }
      if (Object.keys(fields).length > 0) return { ok: false, fields, devices };

      const inserted = await tx.one<{ version: number }>(
        `INSERT INTO config_changes (scope, changes, result, actor, reason, source, time)
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING version`,
        [key, JSON.stringify(changes), JSON.stringify(values), req.actor, req.reason, req.source, req.time],
      );
      if (!inserted) throw new Error('config_changes returned no version');
      const { version } = inserted;
      const versions: Record<string, number> = { ...current.versions };
      for (const k of changed) {
        if (changes[k as ConfigKey] === null) delete versions[k];
        else versions[k] = version;
      }
      await tx.run(
        `INSERT INTO config_scopes (scope, config, versions, version, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (scope) DO UPDATE SET config = excluded.config, versions = excluded.versions,
         version = excluded.version, updated_at = excluded.updated_at`,
        [key, JSON.stringify(values), JSON.stringify(versions), version, req.time],
      );
      await insertAudit(tx, {
        time: req.time,
        actor: req.actor,
        action: req.source === 'withdraw' ? 'config.withdrawn' : 'config.changed',
        deviceId: req.scope,
        reason: req.reason,
        detail: { version, scope: req.scope === null ? 'fleet' : 'device', changes, source: req.source },
      });
      return { ok: true, version, values };
    });
  }

  async recordDeliveries(deviceId: string, offered: readonly OfferedValue[], time: number): Promise<void> {
    const byKey = lastPerKey(offered);
    if (byKey.length === 0) return;
    await this.sql.transaction(null, async (tx) => {
      for (const o of byKey) {
        await tx.run(UPSERT_DELIVERY, [deviceId, o.key, JSON.stringify(o.value), o.version, time, time]);
      }
    });
  }

  async recordReports(deviceId: string, reports: readonly ReportedValue[], time: number): Promise<void> {
    const byKey = lastPerKey(reports);
    if (byKey.length === 0) return;
    await this.sql.transaction(null, async (tx) => {
      for (const r of byKey) {
        await tx.run(UPSERT_REPORT, [deviceId, r.key, JSON.stringify(r.value), r.outcome, r.basis, time]);
      }
    });
  }
}
