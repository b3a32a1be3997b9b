import { SqliteStorage } from '../../src/adapters/sqlite/sqlite-storage.js';
import type { Storage } from '../../src/ports/storage.js';
import { ROOT, tempDataDir } from '../helpers/server-process.js';
import { storageContract } from './storage-contract.js';

storageContract('SQLite in memory', () =>
  SqliteStorage.open({ dataDir: ':memory:', synchronous: 'FULL', maxBatch: 64 }),
);
storageContract('SQLite file, inline writer', () =>
  SqliteStorage.open({ dataDir: tempDataDir(), synchronous: 'FULL', maxBatch: 64, writer: 'inline' }),
);
// The writer thread runs compiled code, as in production (`npm test` builds first).
storageContract('SQLite file, writer thread', async () => {
  const built = (await import(`${ROOT}/dist/src/adapters/sqlite/sqlite-storage.js`)) as {
    SqliteStorage: { open(o: object): Promise<Storage> };
  };
  return built.SqliteStorage.open({ dataDir: tempDataDir(), synchronous: 'FULL', maxBatch: 64 });
});
