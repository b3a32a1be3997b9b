/**
 * The PostgreSQL and Redis of the machine, for the production-profile tests. Each suite works in a
 * schema (and Redis key prefix) of its own, so suites run in parallel and leave nothing behind.
 *
 * Without the services the suites skip with a visible notice; with `CI=true` they fail instead,
 * so a CI machine that lost its database cannot pass by skipping.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, it } from 'vitest';

export const PG_URL = process.env.ECOWATT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.ECOWATT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

async function probePostgres(): Promise<string | null> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('SELECT 1');
    return null;
  } catch (err) {
    return `PostgreSQL not reachable at ${PG_URL}: ${(err as Error).message}`;
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function probeRedis(): Promise<string | null> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    await r.ping();
    return null;
  } catch (err) {
    return `Redis not reachable at ${REDIS_URL}: ${(err as Error).message}`;
  } finally {
    r.disconnect();
  }
}

/**
 * Whether suites needing `services` can run. When they cannot: a failing test under `CI=true`,
 * else a skipped test naming the reason (and a warning on the console).
 */
export async function servicesAvailable(...services: ('postgres' | 'redis')[]): Promise<boolean> {
  const problems = (
    await Promise.all(services.map((s) => (s === 'postgres' ? probePostgres() : probeRedis())))
  ).filter((p): p is string => p !== null);
  if (problems.length === 0) return true;
  const reason = problems.join('; ');
  if (process.env.CI === 'true' || process.env.CI === '1') {
    describe('production-profile services', () => {
      it(`are required in CI (${reason})`, () => {
        throw new Error(`CI=true: ${reason}`);
      });
    });
  } else {
    process.stderr.write(`\n  NOTICE: skipping production-profile tests: ${reason}\n\n`);
    describe('production-profile services', () => {
      it.skip(`SKIPPED: ${reason}`, () => undefined);
    });
  }
  return false;
}

/** `url` with `search_path` set to `schema` (every connection the server opens uses it). */
export function schemaUrl(schema: string, url = PG_URL): string {
  const options = encodeURIComponent(`-c search_path=${schema}`);
  return `${url}${url.includes('?') ? '&' : '?'}options=${options}`;
}

export interface TestSchema {
  name: string;
  url: string;
  /** A query on the test schema (own short connection). */
  query<R extends pg.QueryResultRow>(sql: string, values?: unknown[]): Promise<R[]>;
  drop(): Promise<void>;
}

export async function createSchema(label = 'suite'): Promise<TestSchema> {
  const name = `ecowatt_test_${label}_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${name}`);
  } finally {
    await admin.end();
  }
  const url = schemaUrl(name);
  return {
    name,
    url,
    async query<R extends pg.QueryResultRow>(sql: string, values?: unknown[]) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        return (await c.query<R>(sql, values)).rows;
      } finally {
        await c.end();
      }
    },
    async drop() {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}

/** A Redis key prefix of one suite, and the removal of its keys. */
export function redisPrefix(label = 'suite'): { prefix: string; cleanup(): Promise<void> } {
  const prefix = `ecowatt_test:${label}:${randomBytes(5).toString('hex')}:`;
  return {
    prefix,
    async cleanup() {
      const r = new Redis(REDIS_URL);
      r.on('error', () => undefined);
      try {
        let cursor = '0';
        do {
          const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          if (keys.length > 0) await r.del(...keys);
          cursor = next;
        } while (cursor !== '0');
      } finally {
        r.disconnect();
      }
    },
  };
}

/**
 * The schema of a data directory under `ECOWATT_TEST_PROFILE=postgres` (a restart with the same
 * directory finds its data again). Such schemas older than a day are dropped on the way.
 */
export async function profileSchemaUrl(dataDir: string): Promise<string> {
  const name = `ecowatt_test_profile_${createHash('sha256').update(dataDir).digest('hex').slice(0, 16)}`;
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    const old = await c.query<{ nspname: string }>(
      `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'ecowatt_test_profile_%'
       AND coalesce(obj_description(oid, 'pg_namespace'), '0')::bigint < $1`,
      [Date.now() - 86_400_000],
    );
    for (const r of old.rows) await c.query(`DROP SCHEMA IF EXISTS ${r.nspname} CASCADE`);
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${name}`);
    await c.query(`COMMENT ON SCHEMA ${name} IS '${Date.now()}'`);
  } finally {
    await c.end();
  }
  return schemaUrl(name);
}
