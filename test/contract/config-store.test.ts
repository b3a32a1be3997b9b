/** The ConfigStore contract on every adapter (store-variants.ts). */
import { SqlConfigStore } from '../../src/adapters/sql/config-store.js';
import { ConfigWrites } from '../../src/adapters/sql/config-writes.js';
import { configStoreContract } from './config-store-contract.js';
import { onEveryAdapter } from './store-variants.js';

await onEveryAdapter<SqlConfigStore>(configStoreContract, {
  sqlite: (storage) => new SqlConfigStore(storage.sql, storage.writer.writes.config),
  postgres: (storage) => new SqlConfigStore(storage.sql, new ConfigWrites(storage.sql)),
  schema: 'config_contract',
});
