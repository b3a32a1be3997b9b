/**
 * The MQTT outbox on either database: records read in publication order, marked published through
 * `OutboxWrites`, and the blocks of an upload as the relay publishes them.
 */
import type { Outbox, OutboxKind, OutboxRecord, OutboxStats, UploadBlocks } from '../../ports/outbox.js';
import { type BlockRow, blockFromRow } from '../blocks.js';
import type { OutboxOrder, OutboxWrites } from './outbox-writes.js';
import type { SqlSession } from './sql-executor.js';

interface OutboxRow {
  id: number;
  device_id: string | null;
  kind: string;
  ref_id: string | null;
  payload: string | null;
  created_at: number;
}

/** An upload joined with its blocks: the block columns are null when it stored none. */
type UploadBlockRow = {
  device_id: string;
  received_at: number;
  nonce: number | null;
  method: string | null;
} & {
  [K in keyof Omit<BlockRow, 'id' | 'upload_id'>]: BlockRow[K] | null;
};

const isId = (id: string) => /^\d{1,15}$/.test(id);

export class SqlOutbox implements Outbox {
  constructor(
    private readonly db: SqlSession,
    private readonly writes: Pick<OutboxWrites, keyof OutboxWrites>,
    private readonly order: OutboxOrder,
  ) {}

  pendingOutbox(limit: number, afterId = 0): Promise<OutboxRecord[]> {
    return this.pendingOn(this.db, limit, afterId);
  }

  /** `pendingOutbox` on another connection (PostgreSQL: the one holding the outbox ownership). */
  async pendingOn(db: SqlSession, limit: number, afterId: number): Promise<OutboxRecord[]> {
    const o = this.order;
    const rows = await db.all<OutboxRow>(
      `SELECT ${o} AS id, device_id, kind, ref_id, payload, created_at FROM outbox
        WHERE ${o} > ? ORDER BY ${o} LIMIT ?`,
      [afterId, limit],
    );
    return rows.map((r) => ({
      id: r.id,
      deviceId: r.device_id,
      kind: r.kind as OutboxKind,
      refId: r.ref_id,
      payload: r.payload,
      createdAt: r.created_at,
    }));
  }

  readonly markPublished: Outbox['markPublished'] = (...a) => this.writes.markPublished(...a);

  async outboxStats(): Promise<OutboxStats> {
    const r = await this.db.one<{ depth: number; oldest: number | null }>(
      'SELECT count(*) AS depth, min(created_at) AS oldest FROM outbox',
    );
    return { depth: r?.depth ?? 0, oldestCreatedAt: r?.oldest ?? null };
  }

  async uploadBlocks(uploadId: string): Promise<UploadBlocks | undefined> {
    if (!isId(uploadId)) return undefined;
    const id = Number(uploadId);
    // The relay reads every upload back: one statement, only the columns it needs (an upload
    // whose packets were all quarantined or duplicates comes back as one row without a block).
    const rows = await this.db.all<UploadBlockRow>(
      `SELECT u.device_id, u.received_at, u.nonce, b.packet_idx, b.time, b.step, b.samples, b.layout, b.raw,
          b.quality, p.method
        FROM uploads u
        LEFT JOIN blocks b ON b.upload_id = u.id
        LEFT JOIN packets p ON p.upload_id = b.upload_id AND p.idx = b.packet_idx
        WHERE u.id = ? ORDER BY b.packet_idx`,
      [id],
    );
    const u = rows[0];
    if (!u) return undefined;
    return {
      uploadId: String(id),
      deviceId: u.device_id,
      receivedAt: u.received_at,
      nonce: u.nonce,
      packets: rows
        .filter((r): r is UploadBlockRow & BlockRow => r.packet_idx !== null)
        .map((r) => ({ index: r.packet_idx, method: r.method, block: blockFromRow(r) })),
    };
  }
}
