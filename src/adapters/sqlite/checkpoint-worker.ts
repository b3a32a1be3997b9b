/**
 * The checkpoint thread: copies the WAL back into the database file from a connection of its own,
 * every `intervalMs`. Left to the writer, a checkpoint runs inside the commit that fills the WAL
 * and holds every upload of that group (and the groups behind it) for tens of milliseconds; a
 * PASSIVE checkpoint here never blocks the writer. The writer keeps a far larger automatic
 * checkpoint as a safety net, so the WAL stays bounded should this thread stop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { databaseFile } from './open-database.js';

const { dataDir, intervalMs } = workerData as { dataDir: string; intervalMs: number };
const port = parentPort;
if (!port) throw new Error('checkpoint-worker must run in a worker thread');

const db = new BetterSqlite3(databaseFile(dataDir));
db.pragma('busy_timeout = 1000');
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy or briefly unavailable: the next turn tries again, and the writer's safety net holds.
  }
}, intervalMs);

port.on('message', (msg: { close?: boolean }) => {
  if (!msg.close) return;
  clearInterval(timer);
  db.close();
  port.postMessage({ closed: true });
});
port.postMessage({ ready: true });
