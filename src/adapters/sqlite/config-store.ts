/** The SQLite ConfigStore: reads on the request thread, writes through the shared writer. */
import type { Statement } from 'better-sqlite3';
import type { ConfigKey, ConfigReport, ConfigValue, Delivery, UploadTrace } from '../../model/config.js';
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
} from './config-rows.js';
import type { SqliteStorage } from './sqlite-storage.js';

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

export class SqliteConfigStore implements ConfigStore {
  private readonly st: Record<string, Statement>;

  constructor(private readonly storage: SqliteStorage) {
    const p = (sql: string) => storage.db.prepare(sql);
    this.st = {
      scope: p('SELECT * FROM config_scopes WHERE scope = ?'),
      fleetVersions: p(
        `SELECT * FROM config_changes WHERE scope = '${FLEET_SCOPE}' ORDER BY version DESC LIMIT ?`,
      ),
      deviceVersions: p(
        `SELECT * FROM config_changes WHERE scope IN ('${FLEET_SCOPE}', ?) ORDER BY version DESC LIMIT ?`,
      ),
      deliveries: p('SELECT * FROM config_deliveries WHERE device_id = ?'),
      reports: p('SELECT * FROM config_reports WHERE device_id = ?'),
      uploads: p(
        'SELECT id, received_at, device_timestamp FROM uploads WHERE device_id = ? ORDER BY id DESC LIMIT ?',
      ),
      packets: p(`SELECT upload_id, device_timestamp FROM packets WHERE upload_id IN
        (SELECT id FROM uploads WHERE device_id = ? ORDER BY id DESC LIMIT ?) ORDER BY upload_id, idx`),
    };
  }

  async loadScope(scope: ConfigScope): Promise<ScopeConfig> {
    return scopeFromRow(this.st.scope.get(scopeKey(scope)) as ScopeRow | undefined);
  }

  changeConfig(request: ConfigChangeRequest): Promise<ConfigChangeOutcome> {
    return this.storage.writer.writes.config.changeConfig(request);
  }

  async listVersions(scope: ConfigScope, limit: number): Promise<ConfigVersion[]> {
    const rows = (
      scope === null ? this.st.fleetVersions.all(limit) : this.st.deviceVersions.all(scope, limit)
    ) as VersionRow[];
    return rows.map(versionFromRow);
  }

  async loadDeliveries(deviceId: string): Promise<Map<ConfigKey, Delivery>> {
    const out = new Map<ConfigKey, Delivery>();
    for (const r of this.st.deliveries.all(deviceId) as DeliveryRow[]) {
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

  recordDeliveries(deviceId: string, offered: readonly OfferedValue[], time: number): Promise<void> {
    return this.storage.writer.writes.config.recordConfigDeliveries(deviceId, offered, time);
  }

  async loadReports(deviceId: string): Promise<Map<ConfigKey, ConfigReport>> {
    const out = new Map<ConfigKey, ConfigReport>();
    for (const r of this.st.reports.all(deviceId) as ReportRow[]) {
      out.set(r.key as ConfigKey, {
        value: JSON.parse(r.value) as ConfigValue,
        outcome: r.outcome,
        basis: r.basis,
        at: r.at,
      });
    }
    return out;
  }

  recordReports(deviceId: string, reports: readonly ReportedValue[], time: number): Promise<void> {
    return this.storage.writer.writes.config.recordConfigReports(deviceId, reports, time);
  }

  async recentUploads(deviceId: string, limit: number): Promise<UploadTrace[]> {
    const uploads = this.st.uploads.all(deviceId, limit) as {
      id: number;
      received_at: number;
      device_timestamp: number | null;
    }[];
    const packets = new Map<number, (number | null)[]>();
    for (const p of this.st.packets.all(deviceId, limit) as {
      upload_id: number;
      device_timestamp: number | null;
    }[]) {
      const list = packets.get(p.upload_id) ?? [];
      list.push(p.device_timestamp);
      packets.set(p.upload_id, list);
    }
    return uploads.reverse().map((u) => ({
      receivedAt: u.received_at,
      deviceTimestamp: u.device_timestamp,
      packetTimestamps: packets.get(u.id) ?? [],
    }));
  }
}
