/** Applies the pending PostgreSQL migrations, one transaction each, one migrator at a time. */
import type pg from 'pg';
import { createClient, lockKeys } from './pool.js';
import { type Migration, PG_MIGRATIONS } from './schema.js';

export interface MigrationReport {
  /** Versions applied now. */
  applied: number[];
  /** Highest version in the database afterwards. */
  current: number;
}

export async function migrate(
  client: pg.ClientBase,
  migrations: readonly Migration[] = PG_MIGRATIONS,
): Promise<MigrationReport> {
  // Instances starting together: the first migrates, the others wait and then find nothing to do.
  await client.query(`SELECT pg_advisory_lock(${lockKeys('migrate')})`);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const done = new Set(
      (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map(
        (r) => r.version,
      ),
    );
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
          m.version,
          m.name,
        ]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`);
      }
      applied.push(m.version);
      done.add(m.version);
    }
    return { applied, current: Math.max(0, ...done) };
  } finally {
    await client.query(`SELECT pg_advisory_unlock(${lockKeys('migrate')})`);
  }
}

/** `ecowatt migrate`: connects, migrates, disconnects. */
export async function migrateUrl(url: string): Promise<MigrationReport> {
  const client = createClient(url);
  await client.connect();
  try {
    return await migrate(client);
  } finally {
    await client.end();
  }
}
