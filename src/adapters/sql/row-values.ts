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
