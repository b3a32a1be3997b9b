/**
 * The writer thread: owns the only write connection, so the fsync of a group commit never
 * blocks the HTTP event loop. Requests that arrive while a commit is in progress form the next
 * group. Besides the thread that started it, other threads (the MQTT relay's) may be attached to
 * it with a port of their own; their writes join the same groups.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from './open-database.js';
import { SqliteWriter } from './sqlite-writer.js';
import type { WriterRequest, WriterResponse } from './writer-ops.js';

const {
  dataDir,
  synchronous,
  maxBatch,
  outbox: keepOutbox,
  checkpointer,
} = workerData as {
  dataDir: string;
  synchronous: 'FULL' | 'NORMAL';
  maxBatch: number;
  outbox: boolean;
  /** A checkpoint thread copies the WAL back (checkpoint-worker.ts). */
  checkpointer: boolean;
};
const parent = parentPort;
if (!parent) throw new Error('writer-worker must run in a worker thread');

const db = openDatabase(dataDir, synchronous, true);
// With a checkpoint thread, the writer checkpoints only if the WAL grows far past what that
// thread lets it reach (SQLite's default is 1000 pages).
if (checkpointer) db.pragma('wal_autocheckpoint = 20000');
const writer = new SqliteWriter(db, maxBatch, keepOutbox);
const call = writer.call as (op: string, ...args: unknown[]) => Promise<unknown>;

/** Answers the write requests arriving on `port`. */
function serve(port: MessagePort | typeof parent): (requests: WriterRequest[]) => void {
  // Answers go back in one message per event-loop turn: a wake-up of the requesting thread costs
  // more than the answer itself.
  let answers: WriterResponse[] = [];
  const flush = () => {
    const batch = answers;
    answers = [];
    port?.postMessage(batch);
  };
  const answer = (r: WriterResponse) => {
    if (answers.length === 0) setImmediate(flush);
    answers.push(r);
  };
  return (requests) => {
    for (const req of requests) {
      const args = req.json === undefined ? req.args : (JSON.parse(req.json) as unknown[]);
      call.call(writer, req.op, ...args).then(
        (value) => answer({ id: req.id, ok: true, value }),
        (err: unknown) =>
          answer({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
      );
    }
  };
}

const fromParent = serve(parent);
parent.on('message', (msg: WriterRequest[] | { close: true } | { attach: MessagePort }) => {
  if (Array.isArray(msg)) {
    fromParent(msg);
    return;
  }
  if ('attach' in msg) {
    const port = msg.attach;
    port.on('message', serve(port));
    return;
  }
  writer
    .close()
    .then(() => db.close())
    .finally(() => parent.postMessage({ closed: true }));
});
parent.postMessage({ ready: true });
