/**
 * Registry writes, each one transaction with its audit entry, and the device counters. A change
 * first locks the device row, so it queues behind an upload deciding on that row (and the upload
 * commit of a later one sees the change).
 */
import type { Device, DeviceKey, DevicePolicy, DeviceStatus } from '../../model/device.js';
import { type ReplayState, replayModeToString } from '../../model/replay.js';
import type { AuditEntry, NewDevice } from '../../ports/storage.js';
import { insertAudit } from './audit-log.js';
import { encodeSeen, INSERT_DEVICE, loadDevice, newDeviceValues } from './device-rows.js';
import type { SqlExecutor, SqlSession } from './sql-executor.js';

/**
 * What a database keeps about a device besides its rows, kept in step with every registry change
 * (PostgreSQL: the upload fast path's guard and cached rows, and a Redis replay store).
 */
export interface RegistryHooks {
  /** The replay state was set (created, reset); inside the transaction, before it commits. */
  replaySet?(deviceId: string, state: ReplayState): Promise<void>;
  /** Inside the transaction of a change to an existing device, after the change. */
  changed?(tx: SqlSession, deviceId: string): Promise<void>;
  /** Before a change begins and after it ended: copies of the row held elsewhere are stale. */
  forget?(deviceId: string): void;
}

const INSERT_KEY = `INSERT INTO device_keys (device_id, kid, kind, hmac_key, aes_key, iv, status, created_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?)`;

const insertKey = (tx: SqlSession, deviceId: string, k: DeviceKey) =>
  tx.run(INSERT_KEY, [deviceId, k.kid, k.kind, k.hmacKey, k.aesKey, k.iv, k.status, k.createdAt]);

export class DeviceWrites {
  constructor(
    private readonly sql: SqlExecutor,
    private readonly hooks: RegistryHooks = {},
  ) {}

  async createDevice(d: NewDevice, audit: AuditEntry): Promise<Device> {
    this.hooks.forget?.(d.id);
    return this.sql.transaction(null, async (tx) => {
      await tx.run(INSERT_DEVICE, newDeviceValues({ ...d, autoRegistered: false }));
      // Before the commit: if this fails nothing is created; if the commit fails, the device does
      // not exist and the next create sets the state again.
      await this.hooks.replaySet?.(d.id, d.replay);
      for (const k of d.keys) await insertKey(tx, d.id, k);
      await insertAudit(tx, audit);
      return (await loadDevice(tx, d.id)) as Device;
    });
  }

  setDeviceStatus(id: string, status: DeviceStatus, audit: AuditEntry): Promise<Device | undefined> {
    return this.mutate(id, audit, (tx) => tx.run('UPDATE devices SET status = ? WHERE id = ?', [status, id]));
  }

  setDevicePolicy(id: string, policy: DevicePolicy, audit: AuditEntry): Promise<Device | undefined> {
    return this.mutate(id, audit, (tx) =>
      tx.run(
        `UPDATE devices SET allow_unsecured = ?, require_encryption = ?, replay_mode = ?,
          allow_unsecured_config = ?, require_v2 = ? WHERE id = ?`,
        [
          policy.allowUnsecured,
          policy.requireEncryption,
          replayModeToString(policy.replay),
          policy.allowUnsecuredConfig ?? false,
          policy.requireV2 ?? false,
          id,
        ],
      ),
    );
  }

  addDeviceKey(id: string, key: DeviceKey, audit: AuditEntry): Promise<Device | undefined> {
    return this.mutate(id, audit, (tx) => insertKey(tx, id, key));
  }

  retireDeviceKey(id: string, kid: string, audit: AuditEntry): Promise<Device | undefined> {
    return this.mutate(id, audit, (tx) =>
      tx.run(
        `UPDATE device_keys SET status = 'retired', retired_at = ?
          WHERE device_id = ? AND kid = ? AND status = 'active'`,
        [audit.time, id, kid],
      ),
    );
  }

  resetReplay(id: string, state: ReplayState, audit: AuditEntry): Promise<Device | undefined> {
    return this.mutate(id, audit, async (tx) => {
      await this.hooks.replaySet?.(id, state);
      await tx.run('UPDATE devices SET replay_high = ?, replay_seen = ? WHERE id = ?', [
        state.high,
        encodeSeen(state.seen),
        id,
      ]);
    });
  }

  async countReject(deviceId: string, code: string): Promise<void> {
    await this.count('rejects', deviceId, code);
  }

  async countControl(deviceId: string, kind: string): Promise<void> {
    await this.count('control_counts', deviceId, kind);
  }

  // One statement: no transaction round trips on PostgreSQL (SQLite puts it in the group commit).
  private count(column: 'rejects' | 'control_counts', deviceId: string, key: string): Promise<number> {
    return this.sql.run(
      `UPDATE devices SET ${column} = ${this.sql.dialect.incrementJsonCounter(column)} WHERE id = ?`,
      [key, key, deviceId],
    );
  }

  /** A change of an existing device under its row's lock, with its audit entry; `undefined`: no such device. */
  private async mutate(
    id: string,
    audit: AuditEntry,
    change: (tx: SqlSession) => Promise<unknown>,
  ): Promise<Device | undefined> {
    this.hooks.forget?.(id);
    try {
      return await this.sql.transaction(null, async (tx) => {
        const found = await tx.one(
          `SELECT 1 AS found FROM devices WHERE id = ?${this.sql.dialect.forUpdate}`,
          [id],
        );
        if (!found) return undefined;
        await change(tx);
        await this.hooks.changed?.(tx, id);
        await insertAudit(tx, audit);
        return loadDevice(tx, id);
      });
    } finally {
      // A copy taken by an upload that raced this change is stale too.
      this.hooks.forget?.(id);
    }
  }
}
