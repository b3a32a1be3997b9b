/** Connections to PostgreSQL: the pool every query uses, with the types this adapter expects. */
import pg from 'pg';

/**
 * `bigint` columns hold millisecond times, nonces, ids and counters, all far below 2^53: they are
 * read as numbers, not as the strings `pg` returns by default.
 */
const types = new pg.TypeOverrides();
types.setTypeParser(pg.types.builtins.INT8, Number);

/** First key of every advisory lock this adapter takes ("EW"); the second is per schema. */
export const LOCK_SPACE = 0x4557;

/** What each advisory lock guards (combined with LOCK_SPACE into the first key). */
export const LOCKS = { migrate: 1, relay: 2, retention: 3, partitions: 4 } as const;

/** The two keys of an advisory lock, unique per purpose and per schema (`current_schema()`). */
export const lockKeys = (purpose: keyof typeof LOCKS) =>
  `${(LOCK_SPACE << 8) | LOCKS[purpose]}, hashtext(current_schema())`;

export interface PoolOptions {
  url: string;
  size: number;
  /** Queries of one client are written without waiting for earlier answers (pg pipeline mode). */
  pipeline?: boolean;
}

export function createPool(opts: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.size,
    types,
    pipeline: opts.pipeline ?? false,
    application_name: 'ecowatt',
    keepAlive: true,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client whose server went away: the pool drops it; the next query reconnects.
  pool.on('error', () => undefined);
  // A client in use whose server goes away (PostgreSQL stopped or restarted mid-transaction)
  // emits 'error' too, and pg-pool listens only while it is idle: without this listener the
  // process would crash. Its queries are failed all the same, and the caller releases it with
  // the error, which destroys it.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return pool;
}

/** A single connection outside the pool (session state such as advisory locks lives on it). */
export function createClient(url: string): pg.Client {
  const client = new pg.Client({
    connectionString: url,
    types,
    application_name: 'ecowatt',
    keepAlive: true,
  });
  client.on('error', () => undefined);
  return client;
}
