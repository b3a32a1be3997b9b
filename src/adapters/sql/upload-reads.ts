/**
 * The reads of stored uploads and readings, written once for SQLite and PostgreSQL: a device's
 * readings page by page (cursor = block time, block id, position), its newest value per register,
 * and uploads with their packets. Only the column types differ between the databases (booleans as
 * 0/1 in SQLite), and the row mappers absorb that.
 */
import { decodeCursor, encodeCursor, type ReadingCursor } from '../../ports/cursor.js';
import type {
  Reading,
  ReadingPage,
  ReadingQuery,
  StoredUpload,
  UploadProtocol,
} from '../../ports/storage.js';
import { type BlockRow, blockReadings } from '../blocks.js';
import { groupRows } from './row-values.js';
import type { SqlSession } from './sql-executor.js';

/** Longest span of one packet's samples (5 samples at the slowest poll interval setting). */
export const MAX_BLOCK_SPAN_MS = 4 * 3_600_000;
/** Blocks read for the newest values: enough for every register of the last few uploads. */
const LATEST_BLOCKS = 20;

/**
 * One page of a device's blocks in a time range, from a cursor on: the statement behind
 * `/readings` and `/series` (on PostgreSQL it reads the device-time index of the partitions the
 * range touches; test/contract/postgres-partitions.test.ts checks the plan).
 * Parameters: device, from, to, cursor time (twice), cursor id, rows.
 */
export const READINGS_PAGE_SQL = `SELECT * FROM blocks WHERE device_id = ? AND time >= ? AND time <= ?
          AND (time > ? OR (time = ? AND id >= ?)) ORDER BY time, id LIMIT ?`;

interface UploadRow {
  id: number;
  device_id: string;
  nonce: number | null;
  protocol: string;
  encrypted: boolean | number;
  key_kid: string | null;
  received_at: number;
  source: string;
  request_id: string;
  device_timestamp: number | null;
  gap: number;
}

interface PacketRow {
  upload_id: number;
  idx: number;
  device_timestamp: number | null;
  bytes: string;
  method: string | null;
  label: string | null;
  status: string;
  reason: string | null;
  notes: string;
  duplicate: boolean | number;
  sample_count: number;
}

const truthy = (v: boolean | number) => v === true || v === 1;
const isId = (id: string) => /^\d{1,15}$/.test(id);

function uploadFromRows(u: UploadRow, packets: readonly PacketRow[]): StoredUpload {
  return {
    id: String(u.id),
    deviceId: u.device_id,
    nonce: u.nonce,
    protocol: u.protocol as UploadProtocol,
    encrypted: truthy(u.encrypted),
    keyKid: u.key_kid,
    receivedAt: u.received_at,
    source: u.source,
    requestId: u.request_id,
    deviceTimestamp: u.device_timestamp,
    gap: u.gap,
    packets: packets.map((p) => ({
      index: p.idx,
      deviceTimestamp: p.device_timestamp,
      bytes: p.bytes,
      method: p.method,
      label: p.label,
      status: p.status === 'quarantined' ? 'quarantined' : 'decoded',
      reason: p.reason,
      notes: JSON.parse(p.notes) as string[],
      duplicate: truthy(p.duplicate),
      sampleCount: p.sample_count,
    })),
  };
}

export class UploadReads {
  constructor(private readonly db: SqlSession) {}

  async queryReadings(deviceId: string, q: ReadingQuery): Promise<ReadingPage> {
    const wanted = q.registers ? new Set(q.registers) : undefined;
    const from = q.from ?? Number.MIN_SAFE_INTEGER;
    const to = q.to ?? Number.MAX_SAFE_INTEGER;
    let at: ReadingCursor = (q.cursor ? decodeCursor(q.cursor) : undefined) ?? {
      time: Number.MIN_SAFE_INTEGER,
      id: 0,
      pos: 0,
    };
    const chunk = Math.min(500, Math.max(8, Math.ceil(q.limit / 5)));
    const readings: Reading[] = [];
    for (;;) {
      // A block starts before its samples end: look back by the longest span a block can have.
      const rows = await this.db.all<BlockRow>(READINGS_PAGE_SQL, [
        deviceId,
        Math.max(Number.MIN_SAFE_INTEGER, from - MAX_BLOCK_SPAN_MS),
        to,
        at.time,
        at.time,
        at.id,
        chunk,
      ]);
      for (const row of rows) {
        const startPos = row.id === at.id && row.time === at.time ? at.pos : 0;
        for (const [pos, r] of blockReadings(row, startPos)) {
          if (r.time < from || r.time > to || (wanted && !wanted.has(r.register))) continue;
          if (readings.length === q.limit)
            return { readings, next: encodeCursor({ time: row.time, id: row.id, pos }) };
          readings.push(r);
        }
      }
      if (rows.length < chunk) return { readings, next: null };
      const last = rows[rows.length - 1];
      at = { time: last.time, id: last.id + 1, pos: 0 };
    }
  }

  /** The newest known value of each register (a missing value never hides an older one). */
  async latestReadings(deviceId: string): Promise<Reading[]> {
    const rows = await this.db.all<BlockRow>(
      'SELECT * FROM blocks WHERE device_id = ? ORDER BY time DESC, id DESC LIMIT ?',
      [deviceId, LATEST_BLOCKS],
    );
    const byRegister = new Map<number, Reading>();
    for (const row of rows) {
      const all = [...blockReadings(row, 0)].map(([, r]) => r).reverse();
      for (const r of all) {
        if (!byRegister.has(r.register) && r.raw !== null) byRegister.set(r.register, r);
      }
    }
    return [...byRegister.values()].sort((a, b) => a.register - b.register);
  }

  async getUpload(id: string): Promise<StoredUpload | undefined> {
    if (!isId(id)) return undefined;
    const [u] = await this.db.all<UploadRow>('SELECT * FROM uploads WHERE id = ?', [Number(id)]);
    if (!u) return undefined;
    const packets = await this.db.all<PacketRow>('SELECT * FROM packets WHERE upload_id = ? ORDER BY idx', [
      Number(id),
    ]);
    return uploadFromRows(u, packets);
  }

  /** A device's uploads, newest first, with their packets; `before` pages on (an upload id). */
  async listUploads(deviceId: string, q: { limit: number; before?: string }): Promise<StoredUpload[]> {
    const before = q.before !== undefined && isId(q.before) ? Number(q.before) : Number.MAX_SAFE_INTEGER;
    const uploads = await this.db.all<UploadRow>(
      'SELECT * FROM uploads WHERE device_id = ? AND id < ? ORDER BY id DESC LIMIT ?',
      [deviceId, before, q.limit],
    );
    if (uploads.length === 0) return [];
    const ids = uploads.map((u) => u.id);
    const packets = await this.db.all<PacketRow>(
      `SELECT * FROM packets WHERE upload_id IN (${ids.map(() => '?').join(', ')}) ORDER BY upload_id, idx`,
      ids,
    );
    const byUpload = groupRows(
      packets,
      (p) => p.upload_id,
      (p) => p,
    );
    return uploads.map((u) => uploadFromRows(u, byUpload.get(u.id) ?? []));
  }
}
