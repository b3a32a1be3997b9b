/** `SqlReader` on an SQLite read connection: each distinct query is prepared once and kept. */
import type { Database, Statement } from 'better-sqlite3';
import type { SqlReader } from '../sql/sql-reader.js';

/** Distinct queries kept prepared (a page query per IN-list length stays well below this). */
const MAX_STATEMENTS = 256;

export class SqliteReader implements SqlReader {
  private readonly statements = new Map<string, Statement>();

  constructor(private readonly db: Database) {}

  async all<T>(sql: string, params: readonly unknown[]): Promise<T[]> {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      if (this.statements.size >= MAX_STATEMENTS) this.statements.clear();
      this.statements.set(sql, st);
    }
    return st.all(...params) as T[];
  }
}
