/**
 * The embedded store: one SQLite file (WAL, synchronous=FULL by default) behind the Storage port.
 * Reads run on this thread's connection; writes go to the writer (its own thread for a file, so
 * the fsync of a group commit never stalls request handling).
 */

import type { MessagePort } from 'node:worker_threads';
import type { Database } from 'better-sqlite3';
import type { CommitOutcome, NonceOutcome, UploadCommit } from '../../ports/storage.js';
import { SqlDeviceRegistry } from '../sql/device-registry.js';
import { SqlSecurityEventStore } from '../sql/event-store.js';
import { SqlOutbox } from '../sql/outbox-store.js';
import { SqlReportStore } from '../sql/report-store.js';
import { SqlStorage, type StorageRoles } from '../sql/sql-storage.js';
import { UploadReads } from '../sql/upload-reads.js';
import { MEMORY, openDatabase } from './open-database.js';
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

export class SqliteStorage extends SqlStorage {
  /** The read connection as the stores written once for both databases use it. */
  readonly sql: SqliteSession;
  protected readonly roles: StorageRoles;

  private constructor(
    /** The read connection (this thread). */
    readonly db: Database,
    /** Every write goes through here (extensions' ops included). */
    readonly writer: WriterPort,
  ) {
    super();
    const sql = new SqliteSession(db);
    const { writes } = writer;
    this.sql = sql;
    this.roles = {
      uploads: new UploadReads(sql),
      registry: new SqlDeviceRegistry(sql, writes.devices),
      events: new SqlSecurityEventStore(sql, writes.events),
      reports: new SqlReportStore(sql, writes.reports),
      outbox: new SqlOutbox(sql, writes.outbox, 'id'),
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

  async ping(): Promise<void> {
    await this.sql.one('SELECT 1');
  }

  async close(): Promise<void> {
    await this.writer.close();
    this.db.close();
  }
}
