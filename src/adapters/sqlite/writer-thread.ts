/** The main thread's handle on the writer thread: starts it, talks to it, attaches other threads. */
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { WriterClient } from './writer-client.js';
import type { WriterPort } from './writer-ops.js';

export class WriterThread extends WriterClient implements WriterPort {
  private constructor(private readonly worker: Worker) {
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
    const worker = new Worker(new URL('./writer-worker.js', import.meta.url), { workerData: opts });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: { ready?: boolean }) => {
        if (m.ready) {
          worker.off('error', reject);
          resolve();
        }
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
      worker.once('exit', (code) =>
        reject(new Error(`storage writer thread exited during start-up (${code})`)),
      );
    });
    return new WriterThread(worker);
  }

  /** A port another thread can write through (wrap it in an `AttachedWriter` there). */
  attach(): MessagePort {
    const { port1, port2 } = new MessageChannel();
    this.worker.postMessage({ attach: port1 }, [port1]);
    return port2;
  }

  async close(): Promise<void> {
    await this.drain();
    if (this.failed) return;
    await new Promise<void>((resolve) => {
      this.worker.on('message', (m: { closed?: boolean }) => {
        if (m.closed) resolve();
      });
      this.worker.postMessage({ close: true });
    });
    await this.worker.terminate();
  }
}
