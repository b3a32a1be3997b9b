/** The CommandStore contract on every adapter (store-variants.ts). */
import { PostgresCommandStore } from '../../src/adapters/postgres/command-store.js';
import { SqliteCommandStore } from '../../src/adapters/sqlite/command-store.js';
import { commandStoreContract } from './command-store-contract.js';
import { onEveryAdapter } from './store-variants.js';

await onEveryAdapter<SqliteCommandStore | PostgresCommandStore>(commandStoreContract, {
  sqlite: (storage) => new SqliteCommandStore(storage),
  postgres: (storage) => new PostgresCommandStore(storage.pool),
  schema: 'command_contract',
});
