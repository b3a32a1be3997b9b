/**
 * The writer thread: owns the only write connection, so the fsync of a group commit never
 * blocks the HTTP event loop. Requests that arrive while a commit is in progress form the next
 * group.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from './open-database.js';
import { SqliteWriter } from './sqlite-writer.js';
import type { WriterRequest, WriterResponse } from './writer-ops.js';

const { dataDir, synchronous, maxBatch } = workerData as {
  dataDir: string;
  synchronous: 'FULL' | 'NORMAL';
  maxBatch: number;
};
const port = parentPort;
if (!port) throw new Error('writer-worker must run in a worker thread');

const db = openDatabase(dataDir, synchronous, true);
const writer = new SqliteWriter(db, maxBatch);

port.on('message', (msg: WriterRequest | { close: true }) => {
  if ('close' in msg) {
    writer
      .close()
      .then(() => db.close())
      .finally(() => port.postMessage({ closed: true }));
    return;
  }
  const call = writer.call as (op: string, ...args: unknown[]) => Promise<unknown>;
  call.call(writer, msg.op, ...msg.args).then(
    (value) => port.postMessage({ id: msg.id, ok: true, value } satisfies WriterResponse),
    (err: unknown) =>
      port.postMessage({
        id: msg.id,
        ok: false,
        error: err instanceof Error ? err.message : String(err),
      } satisfies WriterResponse),
  );
});
port.postMessage({ ready: true });
