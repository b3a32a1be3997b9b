/**
 * The embedded store: one SQLite file (WAL, synchronous=FULL by default) behind the Storage port.
 * Reads run on this thread's connection; writes go to the writer (its own thread for a file, so
 * the fsync of a group commit never stalls request handling).
 */

import type { MessagePort } from 'node:worker_threads';
import type { Database, Statement } from 'better-sqlite3';
import type { Device, DeviceKey, DevicePolicy, DeviceStatus } from '../../model/device.js';
import type { ReplayState } from '../../model/replay.js';
import type { Outbox, OutboxKind, OutboxRecord, OutboxStats, UploadBlocks } from '../../ports/outbox.js';
import type {
  AuditEntry,
  CommitOutcome,
  DeviceReport,
  DeviceReportKind,
  EventQuery,
  NewDevice,
  NonceOutcome,
  Reading,
  ReadingPage,
  ReadingQuery,
  ReportRetention,
  SecurityEvent,
  Storage,
  StoredAuditEntry,
  StoredDeviceReport,
  StoredSecurityEvent,
  StoredUpload,
  UploadCommit,
} from '../../ports/storage.js';
import { type BlockRow, blockFromRow } from '../blocks.js';
import { UploadReads } from '../sql/upload-reads.js';
import { MEMORY, openDatabase } from './open-database.js';
import { type ReportRow, reportFromRow } from './report-writes.js';
import { type DeviceRow, deviceFromRow, type KeyRow } from './rows.js';
import { SqliteSession } from './sqlite-executor.js';
import { inlineWriter } from './write-side.js';
import type { WriterPort } from './writer-ops.js';
import { WriterThread } from './writer-thread.js';

export interface SqliteOptions {
  /** Directory holding `ecowatt.db`, or `:memory:`. */
  dataDir: string;
  synchronous: 'FULL' | 'NORMAL';
  maxBatch: number;
  /** Writes on a thread of their own (default for files) or on this thread. */
  writer?: 'thread' | 'inline';
  /** Keep an MQTT outbox (default true); off when nothing publishes, or it would only grow. */
  outbox?: boolean;
}

export class SqliteStorage implements Storage, Outbox {
  private readonly st: Record<string, Statement>;
  /** Reads written once for every database (src/adapters/sql). */
  private readonly reads: UploadReads;
  /** The read connection as the stores written once for both databases use it. */
  readonly sql: SqliteSession;

  private constructor(
    /** The read connection (this thread). */
    readonly db: Database,
    /** Every write goes through here (extensions' ops included). */
    readonly writer: WriterPort,
  ) {
    const p = (sql: string) => db.prepare(sql);
    this.sql = new SqliteSession(db);
    this.reads = new UploadReads(this.sql);
    this.st = {
      device: p('SELECT * FROM devices WHERE id = ?'),
      devices: p('SELECT * FROM devices ORDER BY id'),
      keys: p('SELECT * FROM device_keys WHERE device_id = ? ORDER BY created_at, kid'),
      allKeys: p('SELECT * FROM device_keys ORDER BY created_at, kid'),
      uploadHead: p('SELECT device_id, received_at, nonce FROM uploads WHERE id = ?'),
      ping: p('SELECT 1'),
      reports: p('SELECT * FROM device_reports WHERE device_id = ? AND kind = ? ORDER BY id DESC LIMIT ?'),
      unknownReports: p(`SELECT * FROM device_reports r WHERE kind = ?
        AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = r.device_id) ORDER BY id DESC LIMIT ?`),
      decoderState: p('SELECT decoder_state FROM devices WHERE id = ?'),
      pendingOutbox: p('SELECT * FROM outbox WHERE id > ? ORDER BY id LIMIT ?'),
      outboxStats: p('SELECT count(*) AS depth, min(created_at) AS oldest FROM outbox'),
      uploadBlocks:
        p(`SELECT b.*, p.method FROM blocks b JOIN packets p ON p.upload_id = b.upload_id AND p.idx = b.packet_idx
        WHERE b.upload_id = ? ORDER BY b.packet_idx`),
    };
  }

  static async open(opts: SqliteOptions): Promise<SqliteStorage> {
    const inline = opts.dataDir === MEMORY || opts.writer === 'inline';
    if (inline) {
      const db = openDatabase(opts.dataDir, opts.synchronous, true);
      return new SqliteStorage(
        db,
        inlineWriter(db, { maxBatch: opts.maxBatch, outbox: opts.outbox ?? true }),
      );
    }
    // The writer thread migrates the file before it reports ready.
    const writer = await WriterThread.start({
      dataDir: opts.dataDir,
      synchronous: opts.synchronous,
      maxBatch: opts.maxBatch,
      outbox: opts.outbox ?? true,
    });
    return new SqliteStorage(openDatabase(opts.dataDir, opts.synchronous, false), writer);
  }

  /**
   * A store for another thread of this process (the MQTT relay's): its own read connection to the
   * same file, writing through `writer`, a port attached to this store's writer thread.
   */
  static attached(dataDir: string, synchronous: 'FULL' | 'NORMAL', writer: WriterPort): SqliteStorage {
    return new SqliteStorage(openDatabase(dataDir, synchronous, false), writer);
  }

  /** Whether other threads can write through this store's writer (a file, not in-memory). */
  get writesOnThread(): boolean {
    return this.writer instanceof WriterThread;
  }

  /** A port for `attached` in another thread; only when `writesOnThread`. */
  attachWriter(): MessagePort {
    if (!(this.writer instanceof WriterThread)) throw new Error('this store writes on the calling thread');
    return this.writer.attach();
  }

  commitUpload(u: UploadCommit): Promise<CommitOutcome> {
    return this.writer.writes.core.commitUpload(u);
  }

  acceptNonce(deviceId: string, nonce: number, counterResetThreshold: number): Promise<NonceOutcome> {
    return this.writer.writes.core.acceptNonce(deviceId, nonce, counterResetThreshold);
  }

  async loadDecoderState(deviceId: string): Promise<string | null> {
    const row = this.st.decoderState.get(deviceId) as { decoder_state: string | null } | undefined;
    return row?.decoder_state ?? null;
  }

  async getDevice(id: string): Promise<Device | undefined> {
    const row = this.st.device.get(id) as DeviceRow | undefined;
    return row ? deviceFromRow(row, this.st.keys.all(id) as KeyRow[]) : undefined;
  }

  async listDevices(): Promise<Device[]> {
    const keys = new Map<string, KeyRow[]>();
    for (const k of this.st.allKeys.all() as KeyRow[]) {
      const list = keys.get(k.device_id) ?? [];
      list.push(k);
      keys.set(k.device_id, list);
    }
    return (this.st.devices.all() as DeviceRow[]).map((r) => deviceFromRow(r, keys.get(r.id) ?? []));
  }

  createDevice(d: NewDevice, audit: AuditEntry): Promise<Device> {
    return this.writer.writes.core.createDevice(d, audit);
  }

  setDeviceStatus(id: string, status: DeviceStatus, audit: AuditEntry): Promise<Device | undefined> {
    return this.writer.writes.core.setDeviceStatus(id, status, audit);
  }

  setDevicePolicy(id: string, policy: DevicePolicy, audit: AuditEntry): Promise<Device | undefined> {
    return this.writer.writes.core.setDevicePolicy(id, policy, audit);
  }

  addDeviceKey(id: string, key: DeviceKey, audit: AuditEntry): Promise<Device | undefined> {
    return this.writer.writes.core.addDeviceKey(id, key, audit);
  }

  retireDeviceKey(id: string, kid: string, audit: AuditEntry): Promise<Device | undefined> {
    return this.writer.writes.core.retireDeviceKey(id, kid, audit);
  }

  resetReplay(id: string, state: ReplayState, audit: AuditEntry): Promise<Device | undefined> {
    return this.writer.writes.core.resetReplay(id, state, audit);
  }

  countReject(deviceId: string, code: string): void {
    this.writer.writes.core.countReject(deviceId, code).catch(() => undefined);
  }

  countControl(deviceId: string, kind: string): void {
    this.writer.writes.core.countControl(deviceId, kind).catch(() => undefined);
  }

  recordSecurityEvent(e: SecurityEvent): void {
    this.writer.writes.core.recordSecurityEvent(e).catch(() => undefined);
  }

  async listSecurityEvents(q: EventQuery): Promise<StoredSecurityEvent[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const add = (sql: string, v: string | number | undefined) => {
      if (v === undefined) return;
      where.push(sql);
      args.push(v);
    };
    add('device_id = ?', q.deviceId);
    add('code = ?', q.code);
    add('time >= ?', q.since);
    add('id < ?', q.before);
    const sql = `SELECT * FROM security_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY id DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, q.limit) as {
      id: number;
      time: number;
      device_id: string | null;
      code: string;
      reason: string;
      source: string | null;
      nonce: number | null;
      request_id: string | null;
      detail: string | null;
    }[];
    return rows.map((r) => ({
      id: r.id,
      time: r.time,
      deviceId: r.device_id,
      code: r.code,
      reason: r.reason,
      source: r.source,
      nonce: r.nonce,
      requestId: r.request_id,
      ...(r.detail ? { detail: JSON.parse(r.detail) as Record<string, unknown> } : {}),
    }));
  }

  async listAudit(q: { deviceId?: string; limit: number }): Promise<StoredAuditEntry[]> {
    const rows = (
      q.deviceId === undefined
        ? this.db.prepare('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?').all(q.limit)
        : this.db
            .prepare('SELECT * FROM audit_log WHERE device_id = ? ORDER BY id DESC LIMIT ?')
            .all(q.deviceId, q.limit)
    ) as {
      id: number;
      time: number;
      actor: string;
      action: string;
      device_id: string | null;
      reason: string | null;
      detail: string | null;
    }[];
    return rows.map((r) => ({
      id: r.id,
      time: r.time,
      actor: r.actor,
      action: r.action,
      deviceId: r.device_id,
      reason: r.reason,
      ...(r.detail ? { detail: JSON.parse(r.detail) as Record<string, unknown> } : {}),
    }));
  }

  queryReadings(deviceId: string, q: ReadingQuery): Promise<ReadingPage> {
    return this.reads.queryReadings(deviceId, q);
  }

  latestReadings(deviceId: string): Promise<Reading[]> {
    return this.reads.latestReadings(deviceId);
  }

  getUpload(id: string): Promise<StoredUpload | undefined> {
    return this.reads.getUpload(id);
  }

  listUploads(deviceId: string, q: { limit: number; before?: string }): Promise<StoredUpload[]> {
    return this.reads.listUploads(deviceId, q);
  }

  recordReport(report: DeviceReport, retention: ReportRetention): Promise<StoredDeviceReport> {
    return this.writer.writes.reports.recordReport(report, retention);
  }

  async listReports(deviceId: string, kind: DeviceReportKind, limit: number): Promise<StoredDeviceReport[]> {
    return (this.st.reports.all(deviceId, kind, limit) as ReportRow[]).map(reportFromRow);
  }

  async listUnknownDeviceReports(kind: DeviceReportKind, limit: number): Promise<StoredDeviceReport[]> {
    return (this.st.unknownReports.all(kind, limit) as ReportRow[]).map(reportFromRow);
  }

  async pendingOutbox(limit: number, afterId = 0): Promise<OutboxRecord[]> {
    const rows = this.st.pendingOutbox.all(afterId, limit) as {
      id: number;
      device_id: string | null;
      kind: string;
      ref_id: string | null;
      payload: string | null;
      created_at: number;
    }[];
    return rows.map((r) => ({
      id: r.id,
      deviceId: r.device_id,
      kind: r.kind as OutboxKind,
      refId: r.ref_id,
      payload: r.payload,
      createdAt: r.created_at,
    }));
  }

  markPublished(ids: readonly number[]): Promise<void> {
    return this.writer.writes.core.markPublished(ids);
  }

  async outboxStats(): Promise<OutboxStats> {
    const r = this.st.outboxStats.get() as { depth: number; oldest: number | null };
    return { depth: r.depth, oldestCreatedAt: r.oldest };
  }

  async uploadBlocks(uploadId: string): Promise<UploadBlocks | undefined> {
    // The relay reads every upload back: only the columns it needs, not the packets and notes.
    const u = this.st.uploadHead.get(Number(uploadId)) as
      | { device_id: string; received_at: number; nonce: number | null }
      | undefined;
    if (!u) return undefined;
    const rows = this.st.uploadBlocks.all(Number(uploadId)) as (BlockRow & { method: string | null })[];
    return {
      uploadId,
      deviceId: u.device_id,
      receivedAt: u.received_at,
      nonce: u.nonce,
      packets: rows.map((r) => ({
        index: r.packet_idx,
        method: r.method,
        block: blockFromRow(r),
      })),
    };
  }

  async ping(): Promise<void> {
    this.st.ping.get();
  }

  async close(): Promise<void> {
    await this.writer.close();
    this.db.close();
  }
}
