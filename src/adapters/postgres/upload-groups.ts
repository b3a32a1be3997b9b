/**
 * Group commit of the upload fast path: guarded upload statements (upload-sql.ts) decided in the
 * same turn of the event loop are written together, in one transaction on one connection, sent
 * as one pipeline: one round trip, one commit record and one WAL flush for the group instead of
 * one per upload.
 *
 * - An upload is answered only after its group's COMMIT answered COMMIT.
 * - One upload per device in a group: a second one would only fail its guard on the first's
 *   replay advance; it goes to the next group.
 * - A group locks its device rows in device-id order (the statements run in that order), so two
 *   instances committing overlapping groups wait for each other and never deadlock.
 * - A statement whose guard does not pass writes nothing and is no error: the group goes on, and
 *   that upload is decided again under the row lock (the locked path).
 * - A statement that fails aborts its transaction, so nothing of the group was written: each of
 *   its uploads is then written alone, and a valid upload never fails because another device's
 *   did. A lost connection fails the group (its outcome is unknown; the devices send again).
 */
import type pg from 'pg';
import { WRITE_UPLOAD, type WrittenUpload } from './upload-sql.js';

interface Pending {
  deviceId: string;
  values: unknown[];
  resolve: (w: WrittenUpload) => void;
  reject: (err: unknown) => void;
}

/** An error PostgreSQL reported for a statement (it has a SQLSTATE): the transaction was rolled back. */
function statementError(err: unknown): boolean {
  return (
    typeof (err as { code?: unknown }).code === 'string' &&
    /^[0-9A-Z]{5}$/.test((err as { code: string }).code)
  );
}

export class UploadGroups {
  private queue: Pending[] = [];
  private scheduled = false;
  /** How groups went: for tests and diagnostics. */
  readonly stats = { groups: 0, uploads: 0, splits: 0 };

  constructor(
    private readonly pool: pg.Pool,
    private readonly maxGroup: number,
  ) {}

  /** Writes one upload's guarded statement with the others of this turn. */
  write(deviceId: string, values: unknown[]): Promise<WrittenUpload> {
    return new Promise((resolve, reject) => {
      this.queue.push({ deviceId, values, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const devices = new Set<string>();
    const group: Pending[] = [];
    const later: Pending[] = [];
    for (const p of this.queue) {
      if (devices.has(p.deviceId) || group.length >= this.maxGroup) later.push(p);
      else {
        devices.add(p.deviceId);
        group.push(p);
      }
    }
    this.queue = later;
    if (later.length > 0) this.schedule();
    if (group.length === 0) return;
    group.sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
    this.stats.groups++;
    this.stats.uploads += group.length;
    void this.commit(group);
  }

  private async commit(group: Pending[]): Promise<void> {
    if (group.length === 1) {
      this.alone(group[0]);
      return;
    }
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (err) {
      for (const p of group) p.reject(err);
      return;
    }
    // Every statement is awaited before the connection goes back, whatever failed first.
    const answers = await Promise.allSettled([
      c.query('BEGIN'),
      ...group.map((p) => c.query<WrittenUpload>({ ...WRITE_UPLOAD, values: p.values })),
      c.query('COMMIT'),
    ]);
    const failed = answers.find((a): a is PromiseRejectedResult => a.status === 'rejected');
    const commit = answers[answers.length - 1];
    // COMMIT of a transaction an error aborted answers ROLLBACK instead of failing.
    const committed = !failed && commit.status === 'fulfilled' && commit.value.command === 'COMMIT';
    c.release(committed ? undefined : ((failed?.reason as Error | undefined) ?? new Error('rolled back')));
    if (committed) {
      group.forEach((p, i) => {
        const a = answers[i + 1] as PromiseFulfilledResult<pg.QueryResult<WrittenUpload>>;
        p.resolve(a.value.rows[0]);
      });
      return;
    }
    if (failed && !statementError(failed.reason)) {
      for (const p of group) p.reject(failed.reason);
      return;
    }
    this.stats.splits++;
    for (const p of group) this.alone(p);
  }

  /** One upload's statement as its own transaction. */
  private alone(p: Pending): void {
    this.pool.query<WrittenUpload>({ ...WRITE_UPLOAD, values: p.values }).then(
      (r) => p.resolve(r.rows[0]),
      (err: unknown) => p.reject(err),
    );
  }
}
