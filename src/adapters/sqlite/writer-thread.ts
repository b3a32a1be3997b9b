/** The main thread's handle on the writer thread: starts it, talks to it, attaches other threads. */
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { startWorker } from '../../runtime/worker-start.js';
import { WriterClient } from './writer-client.js';
import type { WriterPort } from './writer-ops.js';

/** How often the checkpoint thread copies the WAL into the database file. */
const CHECKPOINT_INTERVAL_MS = 250;

/** Starts a storage thread (`file` next to this module), which reports `{ready: true}`. */
async function startStorageThread(file: string, workerData: object): Promise<Worker> {
  const { worker } = await startWorker<{ ready?: boolean }, true>(
    new URL(file, import.meta.url),
    { workerData },
    (m: { ready?: boolean }) => (m.ready ? { ready: true } : undefined),
  );
  return worker;
}

/** Asks a storage thread to close its connection, then ends it. */
async function stopWorker(worker: Worker): Promise<void> {
  await new Promise<void>((resolve) => {
    worker.on('message', (m: { closed?: boolean }) => {
      if (m.closed) resolve();
    });
    worker.once('exit', () => resolve());
    worker.postMessage({ close: true });
  });
  await worker.terminate();
}

export class WriterThread extends WriterClient implements WriterPort {
  private constructor(
    private readonly worker: Worker,
    private readonly checkpointer: Worker,
  ) {
    super(worker);
    const fail = (err: Error) => this.fail(err);
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`storage writer thread exited (${code})`)));
  }

  static async start(opts: {
    dataDir: string;
    synchronous: 'FULL' | 'NORMAL';
    maxBatch: number;
    outbox: boolean;
  }): Promise<WriterThread> {
    // The writer migrates the file before it reports ready; the checkpointer opens it afterwards.
    const worker = await startStorageThread('./writer-worker.js', { ...opts, checkpointer: true });
    const checkpointer = await startStorageThread('./checkpoint-worker.js', {
      dataDir: opts.dataDir,
      intervalMs: CHECKPOINT_INTERVAL_MS,
    }).catch(async (err: Error) => {
      await worker.terminate();
      throw err;
    });
    // A checkpointer that fails later only costs the writer its own checkpoints (the safety net).
    checkpointer.on('error', () => {});
    return new WriterThread(worker, checkpointer);
  }

  /** A port another thread can write through (wrap it in an `AttachedWriter` there). */
  attach(): MessagePort {
    const { port1, port2 } = new MessageChannel();
    this.worker.postMessage({ attach: port1 }, [port1]);
    return port2;
  }

  async close(): Promise<void> {
    await this.drain();
    await stopWorker(this.checkpointer);
    if (this.failed) return;
    await stopWorker(this.worker);
  }
}
