/** The ConfigStore contract on every adapter (store-variants.ts). */
import { PostgresConfigStore } from '../../src/adapters/postgres/config-store.js';
import { SqliteConfigStore } from '../../src/adapters/sqlite/config-store.js';
import { configStoreContract } from './config-store-contract.js';
import { onEveryAdapter } from './store-variants.js';

await onEveryAdapter<SqliteConfigStore | PostgresConfigStore>(configStoreContract, {
  sqlite: (storage) => new SqliteConfigStore(storage),
  postgres: (storage) => new PostgresConfigStore(storage.pool),
  schema: 'config_contract',
});
