/** The main thread's handle on the writer thread: calls become messages, answers settle promises. */
import { Worker } from 'node:worker_threads';
import type { WriterOp, WriterOps, WriterPort, WriterRequest, WriterResponse } from './writer-ops.js';

export class WriterThread implements WriterPort {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;
  private outbox: WriterRequest[] = [];

  private constructor(private readonly worker: Worker) {
    worker.on('message', (msg: WriterResponse[] | { closed: true } | { ready: true }) => {
      if (!Array.isArray(msg)) return;
      for (const r of msg) {
        const p = this.pending.get(r.id);
        if (!p) continue;
        this.pending.delete(r.id);
        if (r.ok) p.resolve(r.value);
        else p.reject(new Error(r.error));
      }
    });
    const fail = (err: Error) => {
      this.failure = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
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

  call<K extends WriterOp>(op: K, ...args: WriterOps[K]['args']): Promise<WriterOps[K]['result']> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      // Requests of one event-loop turn travel together (one wake-up of the writer thread).
      if (this.outbox.length === 0) setImmediate(() => this.send());
      this.outbox.push({ id, op, args });
    });
  }

  private send(): void {
    const batch = this.outbox;
    this.outbox = [];
    this.worker.postMessage(batch);
  }

  async drain(): Promise<void> {
    await Promise.allSettled(
      [...this.pending.keys()].map(
        (id) =>
          new Promise((r) => {
            const p = this.pending.get(id);
            if (!p) return r(undefined);
            const { resolve, reject } = p;
            this.pending.set(id, {
              resolve: (v) => {
                resolve(v);
                r(undefined);
              },
              reject: (e) => {
                reject(e);
                r(undefined);
              },
            });
          }),
      ),
    );
  }

  async close(): Promise<void> {
    await this.drain();
    if (this.failure) return;
    await new Promise<void>((resolve) => {
      this.worker.on('message', (m: { closed?: boolean }) => {
        if (m.closed) resolve();
      });
      this.worker.postMessage({ close: true });
    });
    await this.worker.terminate();
  }
}
