/**
 * Group commit: writes queued during one turn of the event loop run in ONE transaction, so one
 * fsync (synchronous=FULL) makes many uploads durable at once. Each write runs in its own
 * savepoint: a write that throws rolls back alone; a failed COMMIT fails every write in the group,
 * and none of them was stored.
 *
 * A write may be async (a store written against the SQL executor), as long as it only awaits the
 * executor: its statements run synchronously, so the group still ends within one turn and no
 * other group can start in between (`flushing` guards it anyway).
 */
import type { Database, Statement } from 'better-sqlite3';

interface Pending {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** How long a group waits for the write lock while the previous one found it held throughout. */
const IMPATIENT_BUSY_MS = 250;

export class GroupCommitter {
  private queue: Pending[] = [];
  private scheduled = false;
  private flushing = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  // Prepared once: `exec` would parse these statements again for every write of every group.
  private readonly sql: Record<'begin' | 'savepoint' | 'release' | 'rollbackTo' | 'commit', Statement>;

  private readonly patientBusyMs: number;
  private isImpatient = false;

  constructor(
    private readonly db: Database,
    private readonly maxBatch: number,
  ) {
    this.patientBusyMs = db.pragma('busy_timeout', { simple: true }) as number;
    this.sql = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      savepoint: db.prepare('SAVEPOINT w'),
      release: db.prepare('RELEASE w'),
      rollbackTo: db.prepare('ROLLBACK TO w'),
      commit: db.prepare('COMMIT'),
    };
  }

  run<T>(work: () => T | Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('storage is closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (v: unknown) => void, reject });
      if (this.queue.length >= this.maxBatch && !this.flushing) void this.flush();
      else this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => void this.flush());
  }

  /** Resolves once everything queued so far is committed. */
  async drain(): Promise<void> {
    if (this.queue.length === 0 && !this.flushing) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    await this.drain();
    this.closed = true;
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    if (this.flushing) {
      this.schedule();
      return;
    }
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    this.flushing = true;
    try {
      await this.commit(batch);
    } finally {
      this.flushing = false;
      if (this.queue.length > 0) this.schedule();
      else this.notifyIdle();
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    const results: { ok: boolean; value: unknown }[] = new Array(batch.length);
    try {
      this.sql.begin.run();
      try {
        for (let i = 0; i < batch.length; i++) {
          this.sql.savepoint.run();
          try {
            const value = batch[i].work();
            results[i] = { ok: true, value: value instanceof Promise ? await value : value };
            this.sql.release.run();
          } catch (err) {
            this.sql.rollbackTo.run();
            this.sql.release.run();
            results[i] = { ok: false, value: err };
          }
        }
        this.sql.commit.run();
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    } catch (err) {
      if ((err as { code?: unknown }).code === 'SQLITE_BUSY') this.impatient(true);
      for (const p of batch) p.reject(err);
      return;
    }
    this.impatient(false);
    for (let i = 0; i < batch.length; i++) {
      const r = results[i];
      if (r.ok) batch[i].resolve(r.value);
      else batch[i].reject(r.value);
    }
  }

  /**
   * After a group waited out the whole busy timeout (another process holds the write lock), the
   * groups behind it wait only briefly: each would otherwise wait the full timeout again, and a
   * request that arrived during the first wait would get its 503 only after two of them. The first
   * commit that succeeds restores the patience.
   */
  private impatient(on: boolean): void {
    if (on === this.isImpatient) return;
    this.isImpatient = on;
    this.db.pragma(`busy_timeout = ${on ? IMPATIENT_BUSY_MS : this.patientBusyMs}`);
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
