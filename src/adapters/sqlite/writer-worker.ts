/**
 * The writer thread: owns the only write connection, so the fsync of a group commit never
 * blocks the HTTP event loop. Requests that arrive while a commit is in progress form the next
 * group.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from './open-database.js';
import { SqliteWriter } from './sqlite-writer.js';
import type { WriterRequest, WriterResponse } from './writer-ops.js';

const {
  dataDir,
  synchronous,
  maxBatch,
  outbox: keepOutbox,
} = workerData as {
  dataDir: string;
  synchronous: 'FULL' | 'NORMAL';
  maxBatch: number;
  outbox: boolean;
};
const port = parentPort;
if (!port) throw new Error('writer-worker must run in a worker thread');

const db = openDatabase(dataDir, synchronous, true);
const writer = new SqliteWriter(db, maxBatch, keepOutbox);

// Answers go back in one message per event-loop turn: a wake-up of the request thread costs more
// than the answer itself.
let outbox: WriterResponse[] = [];
const answer = (r: WriterResponse) => {
  if (outbox.length === 0) setImmediate(sendOutbox);
  outbox.push(r);
};
function sendOutbox(): void {
  const batch = outbox;
  outbox = [];
  port?.postMessage(batch);
}

port.on('message', (msg: WriterRequest[] | { close: true }) => {
  if (!Array.isArray(msg)) {
    writer
      .close()
      .then(() => db.close())
      .finally(() => port.postMessage({ closed: true }));
    return;
  }
  const call = writer.call as (op: string, ...args: unknown[]) => Promise<unknown>;
  for (const req of msg) {
    call.call(writer, req.op, ...req.args).then(
      (value) => answer({ id: req.id, ok: true, value }),
      (err: unknown) =>
        answer({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  }
});
port.postMessage({ ready: true });
