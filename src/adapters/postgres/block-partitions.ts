/**
 * The readings (`blocks`) table is partitioned by sample time (PostgreSQL declarative range
 * partitioning, migration 10), so a device-day query reads one or two partitions' indexes however
 * many years are stored, and retention drops whole partitions instead of deleting rows.
 *
 * - Slot partitions cover `[k·interval, (k+1)·interval)` in unix milliseconds (UTC), named by
 *   their start (`blocks_20261206t0000`). They are made ahead of time (this slot and the next
 *   `AHEAD` ones), so uploads never wait for DDL.
 * - `blocks_default` catches what no partition covers (a device clock far off); a run moves such
 *   rows into a slot partition when one is made for them (past slots only: the future waits).
 * - `blocks_legacy` is the table as it was before partitioning, attached for every time before the
 *   day of the upgrade, so the upgrade rewrote no row (see schema.ts, migration 10).
 *
 * Runs take an advisory lock (one instance at a time; the others skip) and a short lock timeout,
 * so DDL never holds uploads up for long: a run that cannot get its locks tries again next time.
 */
import type pg from 'pg';
import { lockKeys } from './pool.js';

export const DEFAULT_PARTITION = 'blocks_default';
export const LEGACY_PARTITION = 'blocks_legacy';

/** Slots made ahead of the current one. */
const AHEAD = 2;
/** Partitions a run makes for rows found in the default partition, oldest first. */
const MAX_BACKFILL = 64;
/** Rows deleted per statement in the partitions retention cannot drop whole. */
const DELETE_BATCH = 5000;

export interface BlockPartition {
  name: string;
  /** Inclusive lower bound, ms (`-Infinity`: MINVALUE). `null` for the default partition. */
  from: number | null;
  /** Exclusive upper bound, ms. `null` for the default partition. */
  to: number | null;
}

export interface MaintenanceReport {
  created: string[];
  /** Rows moved out of the default partition into the partitions made for them. */
  moved: number;
  /** False when another instance held the lock, or a lock wait timed out. */
  ran: boolean;
}

export interface RetentionReport {
  dropped: string[];
  /** Rows deleted from partitions that hold readings on both sides of the cutoff. */
  deleted: number;
}

const BOUND = /FROM \((MINVALUE|'?(-?\d+)'?)\) TO \((MAXVALUE|'?(-?\d+)'?)\)/;

/** A partition's bounds from `pg_get_expr(relpartbound)`. */
export function parseBound(name: string, expr: string): BlockPartition {
  if (expr.trim() === 'DEFAULT') return { name, from: null, to: null };
  const m = BOUND.exec(expr);
  if (!m) throw new Error(`blocks partition ${name}: unexpected bound ${expr}`);
  return {
    name,
    from: m[1] === 'MINVALUE' ? Number.NEGATIVE_INFINITY : Number(m[2]),
    to: m[3] === 'MAXVALUE' ? Number.POSITIVE_INFINITY : Number(m[4]),
  };
}

/** `blocks_20261206t0000`: the UTC start of a slot. */
export function partitionName(from: number): string {
  const iso = new Date(from).toISOString(); // 2026-12-06T00:00:00.000Z
  return `blocks_${iso.slice(0, 10).replaceAll('-', '')}t${iso.slice(11, 13)}${iso.slice(14, 16)}`;
}

/**
 * The ranges of `[from, to)` that no existing partition covers, cut at slot boundaries. An interval
 * changed since earlier partitions were made only shortens the pieces next to them.
 */
export function missingRanges(
  existing: readonly BlockPartition[],
  from: number,
  to: number,
  interval: number,
): [number, number][] {
  const taken = existing
    .filter((p) => p.from !== null && p.to !== null)
    .map((p) => [p.from as number, p.to as number] as const)
    .sort((a, b) => a[0] - b[0]);
  const pieces: [number, number][] = [];
  let at = from;
  for (const [a, b] of [...taken, [to, to] as const]) {
    if (b <= at) continue;
    const end = Math.min(a, to);
    while (at < end) {
      const next = Math.min(end, (Math.floor(at / interval) + 1) * interval);
      pieces.push([at, next]);
      at = next;
    }
    at = Math.max(at, b);
    if (at >= to) break;
  }
  return pieces;
}

export class BlockPartitions {
  constructor(
    private readonly pool: pg.Pool,
    readonly intervalMs: number,
  ) {}

  /** The partitions of `blocks`; none while the table is not partitioned (migration 10 not applied). */
  async list(client: pg.ClientBase | pg.Pool = this.pool): Promise<BlockPartition[]> {
    const { rows } = await client.query<{ name: string; bound: string }>(
      `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'blocks'::regclass`,
    );
    return rows
      .map((r) => parseBound(r.name, r.bound))
      .sort((a, b) => (a.from ?? Number.POSITIVE_INFINITY) - (b.from ?? Number.POSITIVE_INFINITY));
  }

  /**
   * Makes the partitions of the current slot and the next ones, and of past slots that rows in
   * the default partition belong to (not older than `keepFrom`, when retention is on).
   */
  async maintain(now = Date.now(), keepFrom = Number.NEGATIVE_INFINITY): Promise<MaintenanceReport> {
    return this.locked({ created: [], moved: 0, ran: false }, async (c) => {
      const report: MaintenanceReport = { created: [], moved: 0, ran: true };
      if (!(await this.partitioned(c))) return { ...report, ran: false };
      const slot = Math.floor(now / this.intervalMs) * this.intervalMs;
      const existing = await this.list(c);
      const wanted = missingRanges(existing, slot, slot + (AHEAD + 1) * this.intervalMs, this.intervalMs);
      const { rows } = await c.query<{ start: number }>(
        `SELECT DISTINCT (time / $1) * $1 AS start FROM ${DEFAULT_PARTITION}
          WHERE time >= GREATEST($2::bigint, 0) AND time < $3 ORDER BY start LIMIT $4`,
        [this.intervalMs, Number.isFinite(keepFrom) ? Math.max(0, keepFrom) : 0, slot, MAX_BACKFILL],
      );
      for (const { start } of rows) {
        wanted.push(...missingRanges(existing, start, start + this.intervalMs, this.intervalMs));
      }
      for (const [from, to] of wanted) {
        report.moved += await this.create(c, from, to);
        report.created.push(partitionName(from));
      }
      return report;
    });
  }

  /**
   * Drops the partitions whose readings are all older than `cutoff`, and deletes the older rows of
   * those that straddle it only where no slot partition will follow (the default and the legacy
   * table). A slot partition straddling the cutoff is dropped whole one interval later.
   */
  async dropOlderThan(cutoff: number): Promise<RetentionReport> {
    return this.locked({ dropped: [], deleted: 0 }, async (c) => {
      const report: RetentionReport = { dropped: [], deleted: 0 };
      if (!(await this.partitioned(c))) {
        const r = await c.query('DELETE FROM blocks WHERE time < $1', [cutoff]);
        return { ...report, deleted: r.rowCount ?? 0 };
      }
      for (const p of await this.list(c)) {
        if (p.to !== null && p.to <= cutoff) {
          await c.query('BEGIN');
          try {
            await c.query("SET LOCAL lock_timeout = '5s'");
            await c.query(`DROP TABLE ${ident(p.name)}`);
            await c.query('COMMIT');
          } catch (err) {
            await c.query('ROLLBACK');
            throw err;
          }
          report.dropped.push(p.name);
        } else if (p.from === null || p.from === Number.NEGATIVE_INFINITY) {
          for (;;) {
            const r = await c.query(
              `DELETE FROM ${ident(p.name)} WHERE ctid = ANY (ARRAY(
                 SELECT ctid FROM ${ident(p.name)} WHERE time < $1 LIMIT ${DELETE_BATCH}))`,
              [cutoff],
            );
            report.deleted += r.rowCount ?? 0;
            if ((r.rowCount ?? 0) < DELETE_BATCH) break;
          }
        }
      }
      return report;
    });
  }

  /** Whether `blocks` is partitioned: a database opened without migrating may predate it. */
  private async partitioned(c: pg.PoolClient): Promise<boolean> {
    const { rows } = await c.query<{ kind: string }>(
      "SELECT relkind AS kind FROM pg_class WHERE oid = 'blocks'::regclass",
    );
    return rows[0]?.kind === 'p';
  }

  /** One partition made and attached, with the default partition's rows of its range moved in. */
  private async create(c: pg.PoolClient, from: number, to: number): Promise<number> {
    const name = ident(partitionName(from));
    await c.query('BEGIN');
    try {
      await c.query("SET LOCAL lock_timeout = '5s'");
      await c.query(`CREATE TABLE ${name} (LIKE blocks INCLUDING DEFAULTS)`);
      // The check lets ATTACH trust the new table without scanning it.
      const check = ident(`${partitionName(from)}_range`);
      await c.query(`ALTER TABLE ${name} ADD CONSTRAINT ${check} CHECK (time >= ${from} AND time < ${to})`);
      const moved = await c.query(
        `WITH m AS (DELETE FROM ${DEFAULT_PARTITION} WHERE time >= $1 AND time < $2 RETURNING *)
         INSERT INTO ${name} SELECT * FROM m`,
        [from, to],
      );
      await c.query(`ALTER TABLE blocks ATTACH PARTITION ${name} FOR VALUES FROM (${from}) TO (${to})`);
      await c.query(`ALTER TABLE ${name} DROP CONSTRAINT ${check}`);
      await c.query('COMMIT');
      return moved.rowCount ?? 0;
    } catch (err) {
      await c.query('ROLLBACK');
      throw err;
    }
  }

  /** Runs `work` holding the partitions lock; answers `skipped` when another instance holds it. */
  private async locked<T>(skipped: T, work: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    let failure: Error | undefined;
    try {
      const lock = await c.query<{ ok: boolean }>(
        `SELECT pg_try_advisory_lock(${lockKeys('partitions')}) AS ok`,
      );
      if (!lock.rows[0]?.ok) return skipped;
      try {
        return await work(c);
      } finally {
        await c.query(`SELECT pg_advisory_unlock(${lockKeys('partitions')})`);
      }
    } catch (err) {
      failure = err as Error;
      throw err;
    } finally {
      c.release(failure);
    }
  }
}

/** Partition names are made here (letters, digits, `_`), quoted anyway. */
const ident = (name: string): string => {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`unexpected partition name ${name}`);
  return `"${name}"`;
};
