/**
 * Device reports (registrations, energy and fault reports): the report and the pruning that keeps
 * its table bounded share one transaction.
 */
import type { DeviceReport, ReportRetention, StoredDeviceReport } from '../../ports/storage.js';
import type { SqlExecutor } from './sql-executor.js';

const PRUNE_PER_DEVICE = `DELETE FROM device_reports WHERE device_id = ? AND kind = ? AND id <= (
  SELECT id FROM device_reports WHERE device_id = ? AND kind = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`;

const PRUNE_UNKNOWN = `DELETE FROM device_reports WHERE kind = ?
  AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = device_reports.device_id)
  AND id <= (SELECT r.id FROM device_reports r WHERE r.kind = ?
    AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = r.device_id)
    ORDER BY r.id DESC LIMIT 1 OFFSET ?)`;

export class ReportWrites {
  constructor(private readonly sql: SqlExecutor) {}

  recordReport(report: DeviceReport, retention: ReportRetention): Promise<StoredDeviceReport> {
    const { deviceId, kind } = report;
    return this.sql.transaction(null, async (tx) => {
      const stored = await tx.one<{ id: number }>(
        `INSERT INTO device_reports (device_id, kind, received_at, source, verified, body)
          VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
        [deviceId, kind, report.receivedAt, report.source, report.verified, JSON.stringify(report.body)],
      );
      if (!stored) throw new Error('device report not stored');
      await tx.run(PRUNE_PER_DEVICE, [deviceId, kind, deviceId, kind, retention.perDevice]);
      if (!(await tx.one('SELECT 1 AS known FROM devices WHERE id = ?', [deviceId]))) {
        await tx.run(PRUNE_UNKNOWN, [kind, kind, retention.unknownDevices]);
      }
      return { ...report, id: stored.id };
    });
  }
}
