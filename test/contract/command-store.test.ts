/**
 * The CommandStore contract on every adapter: SQLite in memory, SQLite file with the inline writer,
 * SQLite file with the writer thread (compiled code, as in production: build first), and
 * PostgreSQL in a schema of its own (skipped with a notice without PostgreSQL, failing under CI).
 */
import { afterAll } from 'vitest';
import { PostgresCommandStore } from '../../src/adapters/postgres/command-store.js';
import { PostgresStorage } from '../../src/adapters/postgres/postgres-storage.js';
import { SqliteCommandStore } from '../../src/adapters/sqlite/command-store.js';
import { SqliteStorage } from '../../src/adapters/sqlite/sqlite-storage.js';
import { ROOT, tempDataDir } from '../helpers/server-process.js';
import { createSchema, servicesAvailable } from '../helpers/services.js';
import { commandStoreContract } from './command-store-contract.js';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c().catch(() => undefined);
});

commandStoreContract('SQLite in memory', async () => {
  const storage = await SqliteStorage.open({ dataDir: ':memory:', synchronous: 'FULL', maxBatch: 64 });
  return { store: new SqliteCommandStore(storage), storage, close: () => storage.close() };
});
commandStoreContract('SQLite file, inline writer', async () => {
  const storage = await SqliteStorage.open({
    dataDir: tempDataDir(),
    synchronous: 'FULL',
    maxBatch: 64,
    writer: 'inline',
  });
  return { store: new SqliteCommandStore(storage), storage, close: () => storage.close() };
});
// The writer thread runs compiled code, as in production (build first).
commandStoreContract('SQLite file, writer thread', async () => {
  const { SqliteStorage: Built } = (await import(`${ROOT}/dist/src/adapters/sqlite/sqlite-storage.js`)) as {
    SqliteStorage: typeof SqliteStorage;
  };
  const { SqliteCommandStore: BuiltStore } = (await import(
    `${ROOT}/dist/src/adapters/sqlite/command-store.js`
  )) as { SqliteCommandStore: typeof SqliteCommandStore };
  const storage = await Built.open({ dataDir: tempDataDir(), synchronous: 'FULL', maxBatch: 64 });
  return { store: new BuiltStore(storage), storage, close: () => storage.close() };
});

if (await servicesAvailable('postgres')) {
  commandStoreContract('PostgreSQL', async () => {
    const schema = await createSchema('command_contract');
    cleanups.push(() => schema.drop());
    const storage = await PostgresStorage.open({ url: schema.url, poolSize: 4 });
    return { store: new PostgresCommandStore(storage.pool), storage, close: () => storage.close() };
  });
}
