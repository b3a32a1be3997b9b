/** The OperatorStore contract on every adapter (store-variants.ts). */
import { SqlOperatorStore } from '../../src/adapters/sql/operator-store.js';
import { OperatorWrites } from '../../src/adapters/sql/operator-writes.js';
import { operatorStoreContract } from './operator-store-contract.js';
import { onEveryAdapter } from './store-variants.js';

await onEveryAdapter<SqlOperatorStore>(operatorStoreContract, {
  sqlite: (storage) => new SqlOperatorStore(storage.sql, storage.writer.writes.operators),
  postgres: (storage) => new SqlOperatorStore(storage.sql, new OperatorWrites(storage.sql)),
  schema: 'operator_contract',
});
