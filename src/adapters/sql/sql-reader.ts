/**
 * The least a store needs to run a read written once for every database: the rows of a query whose
 * parameters are marked `?`. Each adapter implements it (SQLite: cached prepared statements on
 * its read connection; PostgreSQL: the pool, each `?` numbered `$n`, statements prepared by name),
 * so a query and its row mapping exist once.
 */
export interface SqlReader {
  all<T>(sql: string, params: readonly unknown[]): Promise<T[]>;
}

/** PostgreSQL numbers its parameters: `?` → `$1`, `$2` … (our SQL has no other `?`). */
export function numberParameters(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}
