/**
 * The writer thread: owns the only write connection, so the fsync of a group commit never
 * blocks the HTTP event loop. Requests that arrive while a commit is in progress form the next
 * group. Besides the thread that started it, other threads (the MQTT relay's) may be attached to
 * it with a port of their own; their writes join the same groups.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { toWireError } from '../sql/store-error.js';
import { openDatabase } from './open-database.js';
import { openWriteSide } from './write-side.js';
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
const side = openWriteSide(db, { maxBatch, outbox: keepOutbox });
const targets = side.targets as unknown as Record<string, Record<string, unknown>>;

/**
 * Whether `target` has `name` as a method of its own or of its class (a store's `XWrites`), never
 * one inherited from `Object` such as `constructor` or `toString`.
 */
function isWrite(target: object, name: string): boolean {
  if (Object.hasOwn(target, name)) return true;
  const proto: unknown = Object.getPrototypeOf(target);
  return (
    proto !== Object.prototype &&
    proto !== null &&
    name !== 'constructor' &&
    Object.hasOwn(proto as object, name)
  );
}

/** Runs a request on its write target; a name the targets do not have is refused, not looked up further. */
function perform(req: WriterRequest, args: unknown[]): Promise<unknown> {
  const target = Object.hasOwn(targets, req.target) ? targets[req.target] : undefined;
  const method = target && isWrite(target, req.method) ? target[req.method] : undefined;
  if (typeof method !== 'function') {
    return Promise.reject(new Error(`no write ${req.target}.${req.method}`));
  }
  return (method as (...a: unknown[]) => Promise<unknown>).apply(target, args);
}

/** Threads attached with a port of their own (the MQTT relay, which reads what the requests add). */
const attached: MessagePort[] = [];

/**
 * Answers the write requests arriving on `port`. Once the request thread's writes of a turn are
 * answered (committed), the attached threads are told, so the relay reads the new outbox records
 * without the request thread waking it per turn.
 */
function serve(port: MessagePort | typeof parent): (requests: WriterRequest[]) => void {
  // Answers go back in one message per event-loop turn: a wake-up of the requesting thread costs
  // more than the answer itself.
  let answers: WriterResponse[] = [];
  const flush = () => {
    const batch = answers;
    answers = [];
    port?.postMessage(batch);
    if (port === parent) for (const reader of attached) reader.postMessage({ wrote: true });
  };
  const answer = (r: WriterResponse) => {
    if (answers.length === 0) setImmediate(flush);
    answers.push(r);
  };
  return (requests) => {
    for (const req of requests) {
      const args = req.json === undefined ? req.args : (JSON.parse(req.json) as unknown[]);
      perform(req, args).then(
        (value) => answer({ id: req.id, ok: true, value }),
        (err: unknown) => answer({ id: req.id, ok: false, error: toWireError(err) }),
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
    attached.push(port);
    port.on('message', serve(port));
    port.on('close', () => attached.splice(attached.indexOf(port), 1));
    return;
  }
  side.committer
    .close()
    .then(() => db.close())
    .finally(() => parent.postMessage({ closed: true }));
});
parent.postMessage({ ready: true });
