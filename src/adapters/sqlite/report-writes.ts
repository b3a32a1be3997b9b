/**
 * Device report writes (registrations, energy and fault reports), run by the SQLite writer: the
 * report and the pruning that keeps its table bounded share one transaction.
 */
import type { Database } from 'better-sqlite3';
import type { DeviceReport, ReportRetention, StoredDeviceReport } from '../../ports/storage.js';

export interface ReportRow {
  id: number;
  device_id: string;
  kind: string;
  received_at: number;
  source: string;
  verified: number;
  body: string;
}

export function reportFromRow(r: ReportRow): StoredDeviceReport {
  return {
    id: r.id,
    deviceId: r.device_id,
    kind: r.kind as StoredDeviceReport['kind'],
    receivedAt: r.received_at,
    source: r.source,
    verified: r.verified === 1,
    body: JSON.parse(r.body) as Record<string, unknown>,
  };
}

export function reportWrites(db: Database) {
  const p = (sql: string) => db.prepare(sql);
  const st = {
    insert: p(`INSERT INTO device_reports (device_id, kind, received_at, source, verified, body)
      VALUES (?, ?, ?, ?, ?, ?)`),
    known: p('SELECT 1 FROM devices WHERE id = ?'),
    prunePerDevice: p(`DELETE FROM device_reports WHERE device_id = @device AND kind = @kind AND id <= (
      SELECT id FROM device_reports WHERE device_id = @device AND kind = @kind ORDER BY id DESC LIMIT 1 OFFSET @keep)`),
    pruneUnknown: p(`DELETE FROM device_reports WHERE kind = @kind
      AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = device_reports.device_id)
      AND id <= (SELECT r.id FROM device_reports r WHERE r.kind = @kind
        AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = r.device_id)
        ORDER BY r.id DESC LIMIT 1 OFFSET @keep)`),
  };
  return {
    recordReport(report: DeviceReport, retention: ReportRetention): StoredDeviceReport {
      const id = Number(
        st.insert.run(
          report.deviceId,
          report.kind,
          report.receivedAt,
          report.source,
          report.verified ? 1 : 0,
          JSON.stringify(report.body),
        ).lastInsertRowid,
      );
      st.prunePerDevice.run({ device: report.deviceId, kind: report.kind, keep: retention.perDevice });
      if (st.known.get(report.deviceId) === undefined) {
        st.pruneUnknown.run({ kind: report.kind, keep: retention.unknownDevices });
      }
      return { ...report, id };
    },
  };
}
