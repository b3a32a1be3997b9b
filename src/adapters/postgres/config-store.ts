/**
 * The ConfigStore on PostgreSQL: the same rules as src/adapters/sqlite/config-writes.ts. A change
 * is validated against the rows read under one configuration-wide transaction lock, so two
 * concurrent changes (on any instances) cannot together make a configuration neither alone would
 * be allowed to make.
 */
import type pg from 'pg';
import { applyPatch, checkConfig, mergeConfig, sameValue } from '../../config/config-schema.js';
import type {
  ConfigKey,
  ConfigPatch,
  ConfigReport,
  ConfigValue,
  Delivery,
  UploadTrace,
} from '../../model/config.js';
import type { FieldErrors } from '../../model/field-errors.js';
import type {
  ConfigChangeOutcome,
  ConfigChangeRequest,
  ConfigScope,
  ConfigStore,
  ConfigVersion,
  OfferedValue,
  ReportedValue,
  ScopeConfig,
} from '../../ports/config-store.js';
import {
  FLEET_SCOPE,
  type ScopeRow,
  scopeFromRow,
  scopeKey,
  type VersionRow,
  versionFromRow,
} from '../sqlite/config-rows.js';
import { INSERT_AUDIT, inTransaction, xactLock } from './tx.js';

interface DeliveryRow {
  key: string;
  value: string;
  version: number;
  first_at: number;
  last_at: number;
  offers: number;
}

interface ReportRow {
  key: string;
  value: string;
  outcome: ConfigReport['outcome'];
  basis: ConfigReport['basis'];
  at: number;
}

export class PostgresConfigStore implements ConfigStore {
  constructor(private readonly pool: pg.Pool) {}

  async loadScope(scope: ConfigScope): Promise<ScopeConfig> {
    const { rows } = await this.pool.query<ScopeRow>('SELECT * FROM config_scopes WHERE scope = $1', [
      scopeKey(scope),
    ]);
    return scopeFromRow(rows[0]);
  }

  changeConfig(req: ConfigChangeRequest): Promise<ConfigChangeOutcome> {
    return inTransaction(this.pool, xactLock('config'), async (sql) => {
      const load = async (key: string) =>
        scopeFromRow((await sql<ScopeRow>('SELECT * FROM config_scopes WHERE scope = $1', [key]))[0]);
      const key = scopeKey(req.scope);
      const current = await load(key);
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
        const scopes = await sql<ScopeRow>('SELECT * FROM config_scopes WHERE scope != $1 ORDER BY scope', [
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
        fields = checkConfig(mergeConfig((await load(FLEET_SCOPE)).values, values), changed);
      }
      if (Object.keys(fields).length > 0) return { ok: false, fields, devices };

      const [{ version }] = await sql<{ version: number }>(
        `INSERT INTO config_changes (scope, changes, result, actor, reason, source, time)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING version`,
        [key, JSON.stringify(changes), JSON.stringify(values), req.actor, req.reason, req.source, req.time],
      );
      const versions: Record<string, number> = { ...current.versions };
      for (const k of changed) {
        if (changes[k as ConfigKey] === null) delete versions[k];
        else versions[k] = version;
      }
      await sql(
        `INSERT INTO config_scopes (scope, config, versions, version, updated_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (scope) DO UPDATE SET config = excluded.config, versions = excluded.versions,
         version = excluded.version, updated_at = excluded.updated_at`,
        [key, JSON.stringify(values), JSON.stringify(versions), version, req.time],
      );
      await sql(INSERT_AUDIT, [
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
      ]);
      return { ok: true, version, values };
    });
  }

  async listVersions(scope: ConfigScope, limit: number): Promise<ConfigVersion[]> {
    const { rows } =
      scope === null
        ? await this.pool.query<VersionRow>(
            'SELECT * FROM config_changes WHERE scope = $1 ORDER BY version DESC LIMIT $2',
            [FLEET_SCOPE, limit],
          )
        : await this.pool.query<VersionRow>(
            'SELECT * FROM config_changes WHERE scope IN ($1, $2) ORDER BY version DESC LIMIT $3',
            [FLEET_SCOPE, scope, limit],
          );
    return rows.map(versionFromRow);
  }

  async loadDeliveries(deviceId: string): Promise<Map<ConfigKey, Delivery>> {
    const { rows } = await this.pool.query<DeliveryRow>(
      'SELECT * FROM config_deliveries WHERE device_id = $1',
      [deviceId],
    );
    const out = new Map<ConfigKey, Delivery>();
    for (const r of rows) {
      out.set(r.key as ConfigKey, {
        value: JSON.parse(r.value) as ConfigValue,
        version: r.version,
        firstAt: r.first_at,
        lastAt: r.last_at,
        offers: r.offers,
      });
    }
    return out;
  }

  async recordDeliveries(deviceId: string, offered: readonly OfferedValue[], time: number): Promise<void> {
    // One statement can touch a key once: the last offer of a key is the one answered.
    const byKey = [...new Map(offered.map((o) => [o.key, o])).values()];
    if (byKey.length === 0) return;
    // A value answered again keeps its first delivery time: the device applies it after that.
    await this.pool.query(
      `INSERT INTO config_deliveries AS d (device_id, key, value, version, first_at, last_at, offers)
       SELECT $1, o.key, o.value, o.version, $2, $2, 1
       FROM unnest($3::text[], $4::text[], $5::bigint[]) AS o(key, value, version)
       ON CONFLICT (device_id, key) DO UPDATE SET
         first_at = CASE WHEN d.value = excluded.value THEN d.first_at ELSE excluded.first_at END,
         offers = CASE WHEN d.value = excluded.value THEN d.offers + 1 ELSE 1 END,
         version = excluded.version, last_at = excluded.last_at, value = excluded.value`,
      [
        deviceId,
        time,
        byKey.map((o) => o.key),
        byKey.map((o) => JSON.stringify(o.value)),
        byKey.map((o) => o.version),
      ],
    );
  }

  async loadReports(deviceId: string): Promise<Map<ConfigKey, ConfigReport>> {
    const { rows } = await this.pool.query<ReportRow>('SELECT * FROM config_reports WHERE device_id = $1', [
      deviceId,
    ]);
    const out = new Map<ConfigKey, ConfigReport>();
    for (const r of rows) {
      out.set(r.key as ConfigKey, {
        value: JSON.parse(r.value) as ConfigValue,
        outcome: r.outcome,
        basis: r.basis,
        at: Number(r.at),
      });
    }
    return out;
  }

  async recordReports(deviceId: string, reports: readonly ReportedValue[], time: number): Promise<void> {
    // One statement can touch a key once: the last report of a key stands.
    const byKey = [...new Map(reports.map((r) => [r.key, r])).values()];
    if (byKey.length === 0) return;
    await this.pool.query(
      `INSERT INTO config_reports (device_id, key, value, outcome, basis, at)
       SELECT $1, r.key, r.value, r.outcome, r.basis, $2
       FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]) AS r(key, value, outcome, basis)
       ON CONFLICT (device_id, key) DO UPDATE SET value = excluded.value, outcome = excluded.outcome,
         basis = excluded.basis, at = excluded.at`,
      [
        deviceId,
        time,
        byKey.map((r) => r.key),
        byKey.map((r) => JSON.stringify(r.value)),
        byKey.map((r) => r.outcome),
        byKey.map((r) => r.basis),
      ],
    );
  }

  async recentUploads(deviceId: string, limit: number): Promise<UploadTrace[]> {
    const uploads = await this.pool.query<{
      id: number;
      received_at: number;
      device_timestamp: number | null;
    }>(
      'SELECT id, received_at, device_timestamp FROM uploads WHERE device_id = $1 ORDER BY id DESC LIMIT $2',
      [deviceId, limit],
    );
    const ids = uploads.rows.map((u) => u.id);
    const packets = await this.pool.query<{ upload_id: number; device_timestamp: number | null }>(
      'SELECT upload_id, device_timestamp FROM packets WHERE upload_id = ANY($1::bigint[]) ORDER BY upload_id, idx',
      [ids],
    );
    const byUpload = new Map<number, (number | null)[]>();
    for (const p of packets.rows) {
      const list = byUpload.get(p.upload_id) ?? [];
      list.push(p.device_timestamp);
      byUpload.set(p.upload_id, list);
    }
    return uploads.rows.reverse().map((u) => ({
      receivedAt: u.received_at,
      deviceTimestamp: u.device_timestamp,
      packetTimestamps: byUpload.get(u.id) ?? [],
    }));
  }
}
