/** Device reports on either database: read from the store's connection, written through `ReportWrites`. */
import type { DeviceReportKind, ReportStore, StoredDeviceReport } from '../../ports/storage.js';
import type { ReportWrites } from './report-writes.js';
import { bool, json } from './row-values.js';
import type { SqlSession } from './sql-executor.js';

interface ReportRow {
  id: number;
  device_id: string;
  kind: string;
  received_at: number;
  source: string;
  verified: unknown;
  body: unknown;
}

const reportFromRow = (r: ReportRow): StoredDeviceReport => ({
  id: r.id,
  deviceId: r.device_id,
  kind: r.kind as DeviceReportKind,
  receivedAt: r.received_at,
  source: r.source,
  verified: bool(r.verified),
  body: json<Record<string, unknown>>(r.body),
});

export class SqlReportStore implements ReportStore {
  constructor(
    private readonly db: SqlSession,
    private readonly writes: Pick<ReportWrites, keyof ReportWrites>,
  ) {}

  readonly recordReport: ReportStore['recordReport'] = (...a) => this.writes.recordReport(...a);

  async listReports(deviceId: string, kind: DeviceReportKind, limit: number): Promise<StoredDeviceReport[]> {
    const rows = await this.db.all<ReportRow>(
      'SELECT * FROM device_reports WHERE device_id = ? AND kind = ? ORDER BY id DESC LIMIT ?',
      [deviceId, kind, limit],
    );
    return rows.map(reportFromRow);
  }

  async listUnknownDeviceReports(kind: DeviceReportKind, limit: number): Promise<StoredDeviceReport[]> {
    const rows = await this.db.all<ReportRow>(
      `SELECT * FROM device_reports r WHERE kind = ?
        AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = r.device_id) ORDER BY id DESC LIMIT ?`,
      [kind, limit],
    );
    return rows.map(reportFromRow);
  }
}
