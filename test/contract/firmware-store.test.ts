/**
 * The firmware-generation contract on every FirmwareStore (SQLite in memory, inline writer, writer
 * thread; PostgreSQL), and the upgrade of a catalogue made before generations: its images become
 * e84f720 images, its rollouts and sessions keep working.
 */
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/adapters/postgres/migrate.js';
import { PostgresStorage } from '../../src/adapters/postgres/postgres-storage.js';
import { PG_MIGRATIONS } from '../../src/adapters/postgres/schema.js';
import { SqlFirmwareStore } from '../../src/adapters/sql/firmware-store.js';
import { FirmwareWrites } from '../../src/adapters/sql/firmware-writes.js';
import { databaseFile } from '../../src/adapters/sqlite/open-database.js';
import { MIGRATIONS } from '../../src/adapters/sqlite/schema.js';
import { SqliteStorage } from '../../src/adapters/sqlite/sqlite-storage.js';
import type { FirmwareStore } from '../../src/ports/firmware-store.js';
import { tempDataDir } from '../helpers/server-process.js';
import { createSchema, servicesAvailable, type TestSchema } from '../helpers/services.js';
import { firmwareImage, firmwareStoreContract, newRollout } from './firmware-store-contract.js';
import { onEveryAdapter } from './store-variants.js';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c().catch(() => undefined);
});

const audit = (action: string) => ({ time: 1, actor: 'test', action, deviceId: null, reason: null });

await onEveryAdapter<SqlFirmwareStore>(firmwareStoreContract, {
  sqlite: (storage) => new SqlFirmwareStore(storage.sql, storage.writer.writes.firmware),
  postgres: (storage) => new SqlFirmwareStore(storage.sql, new FirmwareWrites(storage.sql)),
  schema: 'fw_contract',
});

/** What a pre-generation catalogue held: one image, a rollout of it, a finished session. */
const OLD_ROWS = [
  `INSERT INTO firmware_images (version, original_size, encrypted_size, chunk_size, total_chunks, sha256,
     signature, iv, key_id, notes, forced, encrypted_file, manifest_file, created_at)
   VALUES ('1.0.4', 3000, 3008, 1024, 3, 'aa', 'c2ln', 'AAAAAAAAAAAAAAAAAAAAAA==', 'k1', 'old', FALSE,
     'firmware/firmware_1.0.4_encrypted.bin', 'firmware/firmware_1.0.4_manifest.json', 1000)`,
  `INSERT INTO rollouts (version, target, step_index, step_started_at, pinned, failure_threshold, min_outcomes,
     outcomes_since, state, state_reason, created_at, updated_at)
   VALUES ('1.0.4', '{"kind":"all"}', 0, 2000, FALSE, 0.2, 5, 2000, 'active', NULL, 2000, 2000)`,
  `INSERT INTO ota_sessions (device_id, rollout_id, version, from_version, state, rollout_step, client,
     total_chunks, next_chunk, max_chunk, chunks_served, restarts, phase, outcome, started_at, last_chunk_at,
     updated_at, finished_at)
   VALUES ('old-dev', 1, '1.0.4', '1.0.3', 'failed', 0, 'field', 3, 3, 2, 3, 0, NULL, 'chunk 2: hmac', 3000, 3000,
     3000, 3000)`,
];

async function checkUpgraded(store: FirmwareStore): Promise<void> {
  expect(await store.getImage('1.0.4', 'e84f720')).toMatchObject({
    version: '1.0.4',
    generation: 'e84f720',
    totalChunks: 3,
    keyId: 'k1',
    notes: 'old',
    forced: false,
  });
  expect(await store.getImage('1.0.4', '1.3')).toBeUndefined();
  const [session] = await store.listSessions({ deviceId: 'old-dev', limit: 5 });
  // An outcome stored before the column existed is neither (it still counts, as it did).
  expect(session).toMatchObject({ state: 'failed', outcomeAuthenticated: null });
  expect((await store.counts(1, 5000)).recentFailed).toBe(1);
  // The old rollout keeps working; the version takes a 1.3 image; a 1.3-only version can roll out.
  expect(await store.insertImage(firmwareImage('1.0.4', '1.3'), audit('firmware.added'))).toBeDefined();
  expect(
    await store.openSession({
      deviceId: 'new-13',
      rolloutId: 1,
      fromVersion: '1.3.4',
      client: 'later',
      now: 4000,
    }),
  ).toMatchObject({ version: '1.0.4', client: 'later' });
  await store.insertImage(firmwareImage('1.0.5', '1.3'), audit('firmware.added'));
  expect((await store.createRollout(newRollout('1.0.5'), audit('rollout.created'))).version).toBe('1.0.5');
  // The reference still holds: a rollout of an unknown version is refused by the database.
  await expect(store.createRollout(newRollout('9.9.9'), audit('rollout.created'))).rejects.toThrow();
}

describe('SQLite: upgrading a catalogue made before generations', () => {
  it('keeps its images as e84f720 images, its rollouts and sessions', async () => {
    const dir = tempDataDir();
    const mine = MIGRATIONS.findIndex((m) => m.includes('RENAME TO firmware_versions'));
    expect(mine).toBeGreaterThan(0);
    const db = new BetterSqlite3(databaseFile(dir));
    db.pragma('foreign_keys = ON');
    for (let v = 0; v < mine; v++) {
      db.transaction(() => {
        db.exec(MIGRATIONS[v]);
        db.pragma(`user_version = ${v + 1}`);
      })();
    }
    for (const sql of OLD_ROWS) db.exec(sql.replaceAll('FALSE', '0'));
    db.close();
    const storage = await SqliteStorage.open({
      dataDir: dir,
      synchronous: 'FULL',
      maxBatch: 64,
      writer: 'inline',
    });
    try {
      expect(storage.db.pragma('foreign_key_check')).toEqual([]);
      await checkUpgraded(new SqlFirmwareStore(storage.sql, storage.writer.writes.firmware));
    } finally {
      await storage.close();
    }
  });
});

if (await servicesAvailable('postgres')) {
  async function schema(label: string): Promise<TestSchema> {
    const s = await createSchema(label);
    cleanups.push(() => s.drop());
    return s;
  }

  describe('PostgreSQL: upgrading a catalogue made before generations', () => {
    it('keeps its images as e84f720 images, its rollouts and sessions', async () => {
      const s = await schema('fw_upgrade');
      const client = new pg.Client({ connectionString: s.url });
      await client.connect();
      try {
        await migrate(
          client,
          PG_MIGRATIONS.filter((m) => m.version < 6),
        );
        for (const sql of OLD_ROWS) await client.query(sql);
      } finally {
        await client.end();
      }
      const storage = await PostgresStorage.open({ url: s.url, poolSize: 2 });
      try {
        await checkUpgraded(new SqlFirmwareStore(storage.sql, new FirmwareWrites(storage.sql)));
      } finally {
        await storage.close();
      }
    });
  });
}
