/**
 * The ConfigStore for SQLite and PostgreSQL: reads on the session it is given, writes through a
 * `ConfigWrites` (SQLite: the writer's, wherever it runs; PostgreSQL: one on the pool).
 */
import type { ConfigKey, ConfigReport, Delivery, UploadTrace } from '../../model/config.js';
import type { ConfigScope, ConfigStore, ConfigVersion, ScopeConfig } from '../../ports/config-store.js';
import {
  type DeliveryRow,
  deliveryFromRow,
  FLEET_SCOPE,
  type ReportRow,
  reportFromRow,
  type ScopeRow,
  scopeFromRow,
  scopeKey,
  type VersionRow,
  versionFromRow,
} from './config-rows.js';
import type { ConfigWrites } from './config-writes.js';
import { groupRows } from './row-values.js';
import type { SqlSession } from './sql-executor.js';

export class SqlConfigStore implements ConfigStore {
  constructor(
    private readonly sql: SqlSession,
    private readonly writes: Pick<ConfigWrites, keyof ConfigWrites>,
  ) {}

  async loadScope(scope: ConfigScope): Promise<ScopeConfig> {
    return scopeFromRow(
      await this.sql.one<ScopeRow>('SELECT * FROM config_scopes WHERE scope = ?', [scopeKey(scope)]),
    );
  }

  readonly changeConfig: ConfigStore['changeConfig'] = (...a) => this.writes.changeConfig(...a);

  async listVersions(scope: ConfigScope, limit: number): Promise<ConfigVersion[]> {
    const rows =
      scope === null
        ? await this.sql.all<VersionRow>(
            'SELECT * FROM config_changes WHERE scope = ? ORDER BY version DESC LIMIT ?',
            [FLEET_SCOPE, limit],
          )
        : await this.sql.all<VersionRow>(
            'SELECT * FROM config_changes WHERE scope IN (?, ?) ORDER BY version DESC LIMIT ?',
            [FLEET_SCOPE, scope, limit],
          );
    return rows.map(versionFromRow);
  }

  async loadDeliveries(deviceId: string): Promise<Map<ConfigKey, Delivery>> {
    const rows = await this.sql.all<DeliveryRow>('SELECT * FROM config_deliveries WHERE device_id = ?', [
      deviceId,
    ]);
    return new Map(rows.map((r) => [r.key as ConfigKey, deliveryFromRow(r)]));
  }

  readonly recordDeliveries: ConfigStore['recordDeliveries'] = (...a) => this.writes.recordDeliveries(...a);

  async loadReports(deviceId: string): Promise<Map<ConfigKey, ConfigReport>> {
    const rows = await this.sql.all<ReportRow>('SELECT * FROM config_reports WHERE device_id = ?', [
      deviceId,
    ]);
    return new Map(rows.map((r) => [r.key as ConfigKey, reportFromRow(r)]));
  }

  readonly recordReports: ConfigStore['recordReports'] = (...a) => this.writes.recordReports(...a);

  async recentUploads(deviceId: string, limit: number): Promise<UploadTrace[]> {
    const uploads = await this.sql.all<{ id: number; received_at: number; device_timestamp: number | null }>(
      'SELECT id, received_at, device_timestamp FROM uploads WHERE device_id = ? ORDER BY id DESC LIMIT ?',
      [deviceId, limit],
    );
    if (uploads.length === 0) return [];
    const ids = uploads.map((u) => u.id);
    const packets = await this.sql.all<{ upload_id: number; device_timestamp: number | null }>(
      `SELECT upload_id, device_timestamp FROM packets
        WHERE upload_id IN (${ids.map(() => '?').join(', ')}) ORDER BY upload_id, idx`,
      ids,
    );
    const byUpload = groupRows(
      packets,
      (p) => p.upload_id,
      (p) => p.device_timestamp,
    );
    return uploads.reverse().map((u) => ({
      receivedAt: u.received_at,
      deviceTimestamp: u.device_timestamp,
      packetTimestamps: byUpload.get(u.id) ?? [],
    }));
  }
}
