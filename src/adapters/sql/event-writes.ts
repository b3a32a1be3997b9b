/**
 * Security events, each stored with its outbox record in one transaction: the relay publishes the
 * event as it was stored, with its id.
 */
import { eventJson } from '../../observability/event-json.js';
import type { SecurityEvent } from '../../ports/storage.js';
import type { SqlExecutor } from './sql-executor.js';

export class EventWrites {
  constructor(
    private readonly sql: SqlExecutor,
    /** Record what the MQTT relay must publish (off when nothing publishes). */
    private readonly outbox: boolean,
  ) {}

  recordSecurityEvent(e: SecurityEvent): Promise<void> {
    return this.sql.transaction(null, async (tx) => {
      const stored = await tx.one<{ id: number }>(
        `INSERT INTO security_events (time, device_id, code, reason, source, nonce, request_id, detail)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
        [
          e.time,
          e.deviceId,
          e.code,
          e.reason,
          e.source,
          e.nonce,
          e.requestId,
          e.detail ? JSON.stringify(e.detail) : null,
        ],
      );
      if (!this.outbox || e.deviceId === null || !stored) return;
      await tx.run(
        'INSERT INTO outbox (device_id, kind, ref_id, payload, created_at) VALUES (?, ?, ?, ?, ?)',
        [e.deviceId, 'event', String(stored.id), JSON.stringify(eventJson(e, stored.id)), e.time],
      );
    });
  }
}
