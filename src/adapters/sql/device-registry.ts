/**
 * The device registry on either database: reads on the store's connection, writes through a
 * `DeviceWrites` (on SQLite the writer thread's); the counters are fire and forget.
 */
import type { Device } from '../../model/device.js';
import type { DeviceActivity, DeviceRegistry, StoredAuditEntry } from '../../ports/storage.js';
import { type Background, dropFailures } from './background.js';
import { DEVICE_COLUMNS, type DeviceRow, deviceFromRow, type KeyRow, loadDevice } from './device-rows.js';
import type { DeviceWrites } from './device-writes.js';
import { groupRows, json } from './row-values.js';
import type { SqlSession } from './sql-executor.js';

interface AuditRow {
  id: number;
  time: number;
  actor: string;
  action: string;
  device_id: string | null;
  reason: string | null;
  detail: unknown;
}

export class SqlDeviceRegistry implements DeviceRegistry {
  constructor(
    private readonly db: SqlSession,
    private readonly writes: Pick<DeviceWrites, keyof DeviceWrites>,
    private readonly background: Background = dropFailures,
  ) {}

  getDevice(id: string): Promise<Device | undefined> {
    return loadDevice(this.db, id);
  }

  async listDevices(): Promise<Device[]> {
    const [rows, keyRows] = await Promise.all([
      this.db.all<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices ORDER BY id`),
      this.db.all<KeyRow>('SELECT * FROM device_keys ORDER BY created_at, kid'),
    ]);
    const keys = groupRows(
      keyRows,
      (k) => k.device_id,
      (k) => k,
    );
    return rows.map((r) => deviceFromRow(r, keys.get(r.id) ?? []));
  }

  async loadDecoderState(deviceId: string): Promise<string | null> {
    const row = await this.db.one<{ decoder_state: string | null }>(
      'SELECT decoder_state FROM devices WHERE id = ?',
      [deviceId],
    );
    return row?.decoder_state ?? null;
  }

  readonly createDevice: DeviceRegistry['createDevice'] = (...a) => this.writes.createDevice(...a);

  readonly setDeviceStatus: DeviceRegistry['setDeviceStatus'] = (...a) => this.writes.setDeviceStatus(...a);

  readonly setDevicePolicy: DeviceRegistry['setDevicePolicy'] = (...a) => this.writes.setDevicePolicy(...a);

  readonly addDeviceKey: DeviceRegistry['addDeviceKey'] = (...a) => this.writes.addDeviceKey(...a);

  readonly retireDeviceKey: DeviceRegistry['retireDeviceKey'] = (...a) => this.writes.retireDeviceKey(...a);

  readonly resetReplay: DeviceRegistry['resetReplay'] = (...a) => this.writes.resetReplay(...a);

  countReject(deviceId: string, code: string): void {
    this.background(this.writes.countReject(deviceId, code));
  }

  countControl(deviceId: string, kind: string): void {
    this.background(this.writes.countControl(deviceId, kind));
  }

  async deviceActivity(since: readonly number[]): Promise<DeviceActivity> {
    // One pass over the devices, however many windows.
    const counts = since.map((_, i) => `count(CASE WHEN last_seen >= ? THEN 1 END) AS w${i}`);
    const row = await this.db.one<Record<string, number | string>>(
      `SELECT count(*) AS total, count(CASE WHEN last_seen IS NULL THEN 1 END) AS never
         ${counts.map((c) => `, ${c}`).join('')} FROM devices`,
      [...since],
    );
    const n = (v: number | string | undefined) => Number(v ?? 0);
    return { total: n(row?.total), never: n(row?.never), since: since.map((_, i) => n(row?.[`w${i}`])) };
  }

  async listAudit(q: { deviceId?: string; limit: number }): Promise<StoredAuditEntry[]> {
    const rows =
      q.deviceId === undefined
        ? await this.db.all<AuditRow>('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?', [q.limit])
        : await this.db.all<AuditRow>(
            'SELECT * FROM audit_log WHERE device_id = ? ORDER BY id DESC LIMIT ?',
            [q.deviceId, q.limit],
          );
    return rows.map((r) => ({
      id: r.id,
      time: r.time,
      actor: r.actor,
      action: r.action,
      deviceId: r.device_id,
      reason: r.reason,
      ...(r.detail ? { detail: json<Record<string, unknown>>(r.detail) } : {}),
    }));
  }
}
