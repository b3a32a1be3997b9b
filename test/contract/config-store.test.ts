/**
 * The ConfigStore contract on every adapter: SQLite in memory, SQLite file with the inline writer,
 * SQLite file with the writer thread (compiled code, as in production: build first), and
 * PostgreSQL in a schema of its own (skipped with a notice without PostgreSQL, failing under CI).
 */
import { afterAll } from 'vitest';
import { PostgresConfigStore } from '../../src/adapters/postgres/config-store.js';
import { PostgresStorage } from '../../src/adapters/postgres/postgres-storage.js';
import { SqliteConfigStore } from '../../src/adapters/sqlite/config-store.js';
import { SqliteStorage } from '../../src/adapters/sqlite/sqlite-storage.js';
import { ROOT, tempDataDir } from '../helpers/server-process.js';
import { createSchema, servicesAvailable } from '../helpers/services.js';
import { configStoreContract } from './config-store-contract.js';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c().catch(() => undefined);
});

configStoreContract('SQLite in memory', async () => {
  const storage = await SqliteStorage.open({ dataDir: ':memory:', synchronous: 'FULL', maxBatch: 64 });
  return { store: new SqliteConfigStore(storage), storage, close: () => storage.close() };
});
configStoreContract('SQLite file, inline writer', async () => {
  const storage = await SqliteStorage.open({
    dataDir: tempDataDir(),
    synchronous: 'FULL',
    maxBatch: 64,
    writer: 'inline',
  });
  return { store: new SqliteConfigStore(storage), storage, close: () => storage.close() };
});
// The writer thread runs compiled code, as in production (build first).
configStoreContract('SQLite file, writer thread', async () => {
  const { SqliteStorage: Built } = (await import(`${ROOT}/dist/src/adapters/sqlite/sqlite-storage.js`)) as {
    SqliteStorage: typeof SqliteStorage;
  };
  const { SqliteConfigStore: BuiltStore } = (await import(
    `${ROOT}/dist/src/adapters/sqlite/config-store.js`
  )) as { SqliteConfigStore: typeof SqliteConfigStore };
  const storage = await Built.open({ dataDir: tempDataDir(), synchronous: 'FULL', maxBatch: 64 });
  return { store: new BuiltStore(storage), storage, close: () => storage.close() };
});

if (await servicesAvailable('postgres')) {
  configStoreContract('PostgreSQL', async () => {
    const schema = await createSchema('config_contract');
    cleanups.push(() => schema.drop());
    const storage = await PostgresStorage.open({ url: schema.url, poolSize: 4 });
    return { store: new PostgresConfigStore(storage.pool), storage, close: () => storage.close() };
  });
}
