/** Group commit against a SQLite file whose write lock another process (here: connection) holds. */
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { GroupCommitter } from '../../src/adapters/sqlite/group-commit.js';
import { tempDataDir } from '../helpers/server-process.js';

async function timed(p: Promise<unknown>): Promise<{ ok: boolean; ms: number }> {
  const t = performance.now();
  const ok = await p.then(
    () => true,
    () => false,
  );
  return { ok, ms: performance.now() - t };
}

describe('group commit while the write lock is held elsewhere', () => {
  it('waits the busy timeout once, then fails the next groups fast, and is patient again once it commits', async () => {
    const file = path.join(tempDataDir(), 'lock.db');
    const db = new BetterSqlite3(file);
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 1500');
    db.exec('CREATE TABLE t (v INTEGER)');
    const committer = new GroupCommitter(db, 64);
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');

    const holder = new BetterSqlite3(file);
    holder.exec('BEGIN EXCLUSIVE');
    const first = await timed(committer.run(() => insert.run(1)));
    const second = await timed(committer.run(() => insert.run(2)));
    expect(first.ok).toBe(false);
    expect(first.ms).toBeGreaterThanOrEqual(1400);
    expect(second.ok).toBe(false);
    expect(second.ms).toBeLessThan(1000);

    holder.exec('COMMIT');
    holder.close();
    expect((await timed(committer.run(() => insert.run(3)))).ok).toBe(true);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(1500);
    expect(db.prepare('SELECT v FROM t').all()).toEqual([{ v: 3 }]);
    await committer.close();
    db.close();
  });
});
