/**
 * Column values as either database returns them, so one row mapper serves both: SQLite stores
 * booleans as 0/1 and JSON as text; PostgreSQL returns `boolean` and parsed `jsonb`.
 */

export function bool(v: unknown): boolean {
  return v === true || v === 1;
}

/** A JSON column (text in SQLite, `jsonb` in PostgreSQL); `null` stays `null`. */
export function json<T>(v: unknown): T {
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}

/** `rows` as lists per `key`, each in the rows' order (the child rows of many parents, read in one query). */
export function groupRows<R, K, V>(rows: readonly R[], key: (r: R) => K, value: (r: R) => V): Map<K, V[]> {
  const out = new Map<K, V[]>();
  for (const r of rows) {
    const list = out.get(key(r));
    if (list) list.push(value(r));
    else out.set(key(r), [value(r)]);
  }
  return out;
}
