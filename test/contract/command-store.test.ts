/** The CommandStore contract on every adapter (store-variants.ts). */
import { SqlCommandStore } from '../../src/adapters/sql/command-store.js';
import { CommandWrites } from '../../src/adapters/sql/command-writes.js';
import { commandStoreContract } from './command-store-contract.js';
import { onEveryAdapter } from './store-variants.js';

await onEveryAdapter<SqlCommandStore>(commandStoreContract, {
  sqlite: (storage) => new SqlCommandStore(storage.sql, storage.writer.writes.commands),
  postgres: (storage) => new SqlCommandStore(storage.sql, new CommandWrites(storage.sql)),
  schema: 'command_contract',
});
