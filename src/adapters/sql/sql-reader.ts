/**
 * The least a store needs to run a read written once for every database: rows of a query written
 * with `?` placeholders and parameters. Each adapter implements it (SQLite: cached prepared
 * statements on its read connection; PostgreSQL: the pool, `?` turned into `$n`, statements
 * prepared by name), so a query and its row mapping exist once.
 */
export interface SqlReader {
  all<T>(sql: string, params: readonly unknown[]): Promise<T[]>;
}

/** `?` placeholders as PostgreSQL numbers them (no `?` appears in our SQL but as a placeholder). */
export function numberPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}
