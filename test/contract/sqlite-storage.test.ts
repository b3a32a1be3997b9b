import { statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteStorage } from '../../src/adapters/sqlite/sqlite-storage.js';
import type { Storage } from '../../src/ports/storage.js';
import { eventually } from '../helpers/eventually.js';
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

describe('SQLite file, writer thread: WAL checkpoints', () => {
  it('copies committed pages into the database file without the writer checkpointing', async () => {
    const built = (await import(`${ROOT}/dist/src/adapters/sqlite/sqlite-storage.js`)) as {
      SqliteStorage: { open(o: object): Promise<Storage> };
    };
    const dir = tempDataDir();
    const s = await built.SqliteStorage.open({ dataDir: dir, synchronous: 'FULL', maxBatch: 64 });
    const file = path.join(dir, 'ecowatt.db');
    const before = statSync(file).size;
    for (let i = 0; i < 400; i++) {
      s.recordSecurityEvent({
        time: i,
        deviceId: null,
        code: 'authentication_failed',
        reason: 'x'.repeat(500),
        source: null,
        nonce: i,
        requestId: null,
      });
    }
    // 400 × 500 bytes stay far below the writer's own checkpoint threshold: only the checkpoint
    // thread can have moved them into the file.
    await eventually(async () => expect(statSync(file).size).toBeGreaterThan(before + 150_000), 5000);
    await s.close();
  });
});
