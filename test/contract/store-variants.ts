/**
 * Runs a store's contract on every adapter CI has: SQLite in memory, SQLite file with the inline
 * writer, SQLite file on the writer thread (compiled code, as in production: build first), and
 * PostgreSQL in a schema of its own (skipped with a notice without PostgreSQL, failing under CI).
 */
import { afterAll } from 'vitest';
import { PostgresStorage } from '../../src/adapters/postgres/postgres-storage.js';
import { SqliteStorage } from '../../src/adapters/sqlite/sqlite-storage.js';
import { ROOT, tempDataDir } from '../helpers/server-process.js';
import { createSchema, servicesAvailable } from '../helpers/services.js';

export interface OpenedStore<S> {
  store: S;
  storage: SqliteStorage | PostgresStorage;
  close(): Promise<void>;
}

export interface StoreAdapters<S> {
  /** The store on an opened storage (the same function for both when it is written once). */
  sqlite(storage: SqliteStorage): S;
  postgres(storage: PostgresStorage): S;
  /** Prefix of the PostgreSQL schema the contract runs in. */
  schema: string;
}

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c().catch(() => undefined);
});

export async function onEveryAdapter<S>(
  contract: (name: string, open: () => Promise<OpenedStore<S>>) => void,
  adapters: StoreAdapters<S>,
): Promise<void> {
  const sqlite = async (
    Storage: typeof SqliteStorage,
    opts: Partial<{ dataDir: string; writer: 'inline' }>,
  ) => {
    const storage = await Storage.open({ dataDir: ':memory:', synchronous: 'FULL', maxBatch: 64, ...opts });
    return { store: adapters.sqlite(storage), storage, close: () => storage.close() };
  };
  contract('SQLite in memory', () => sqlite(SqliteStorage, {}));
  contract('SQLite file, inline writer', () =>
    sqlite(SqliteStorage, { dataDir: tempDataDir(), writer: 'inline' }),
  );
  // The writer thread runs compiled code (its worker file is JavaScript): the storage comes from dist/.
  contract('SQLite file, writer thread', async () => {
    const { SqliteStorage: Built } = (await import(`${ROOT}/dist/src/adapters/sqlite/sqlite-storage.js`)) as {
      SqliteStorage: typeof SqliteStorage;
    };
    return sqlite(Built, { dataDir: tempDataDir() });
  });
  if (await servicesAvailable('postgres')) {
    contract('PostgreSQL', async () => {
      const schema = await createSchema(adapters.schema);
      cleanups.push(() => schema.drop());
      const storage = await PostgresStorage.open({ url: schema.url, poolSize: 4 });
      return { store: adapters.postgres(storage), storage, close: () => storage.close() };
    });
  }
}
