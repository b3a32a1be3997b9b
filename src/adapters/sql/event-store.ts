/** Security events on either database: listed from the store's connection, written fire and forget. */
import type {
  EventQuery,
  SecurityEvent,
  SecurityEventStore,
  StoredSecurityEvent,
} from '../../ports/storage.js';
import { type Background, dropFailures } from './background.js';
import type { EventWrites } from './event-writes.js';
import { json } from './row-values.js';
import type { SqlSession } from './sql-executor.js';

interface EventRow {
  id: number;
  time: number;
  device_id: string | null;
  code: string;
  reason: string;
  source: string | null;
  nonce: number | null;
  request_id: string | null;
  detail: unknown;
}

export class SqlSecurityEventStore implements SecurityEventStore {
  constructor(
    private readonly db: SqlSession,
    private readonly writes: Pick<EventWrites, keyof EventWrites>,
    private readonly background: Background = dropFailures,
  ) {}

  recordSecurityEvent(event: SecurityEvent): void {
    this.background(this.writes.recordSecurityEvent(event));
  }

  async listSecurityEvents(q: EventQuery): Promise<StoredSecurityEvent[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const add = (condition: string, v: string | number | undefined) => {
      if (v === undefined) return;
      where.push(condition);
      params.push(v);
    };
    add('device_id = ?', q.deviceId);
    add('code = ?', q.code);
    add('time >= ?', q.since);
    add('id < ?', q.before);
    const rows = await this.db.all<EventRow>(
      `SELECT * FROM security_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY id DESC LIMIT ?`,
      [...params, q.limit],
    );
    return rows.map((r) => ({
      id: r.id,
      time: r.time,
      deviceId: r.device_id,
      code: r.code,
      reason: r.reason,
      source: r.source,
      nonce: r.nonce,
      requestId: r.request_id,
      ...(r.detail ? { detail: json<Record<string, unknown>>(r.detail) } : {}),
    }));
  }
}
