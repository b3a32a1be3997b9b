/** Opens the SQLite file with the pragmas every connection needs, migrating it if asked to. */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { MIGRATIONS } from './schema.js';

export const MEMORY = ':memory:';

export function databaseFile(dataDir: string): string {
  return dataDir === MEMORY ? MEMORY : path.join(dataDir, 'ecowatt.db');
}

export function openDatabase(dataDir: string, synchronous: 'FULL' | 'NORMAL', migrate: boolean): Database {
  if (dataDir !== MEMORY) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = new BetterSqlite3(databaseFile(dataDir));
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  if (migrate) {
    const version = db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      db.transaction(() => {
        db.exec(MIGRATIONS[v]);
        db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }
  return db;
}
