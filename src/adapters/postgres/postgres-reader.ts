/** `SqlReader` on the PostgreSQL pool: `?` numbered as `$n`, each distinct query prepared by name. */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { numberParameters, type SqlReader } from '../sql/sql-reader.js';

export class PostgresReader implements SqlReader {
  private readonly texts = new Map<string, { name: string; text: string }>();

  constructor(private readonly pool: pg.Pool) {}

  async all<T>(sql: string, params: readonly unknown[]): Promise<T[]> {
    let q = this.texts.get(sql);
    if (!q) {
      const name = `ecowatt_r_${createHash('sha256').update(sql).digest('hex').slice(0, 16)}`;
      q = { name, text: numberParameters(sql) };
      this.texts.set(sql, q);
    }
    const { rows } = await this.pool.query(q, [...params]);
    return rows as T[];
  }
}
