/**
 * A client of the writer thread over a message port: a call of a write target's method becomes a
 * message, its answer settles the promise. The thread that started the writer talks to it through
 * its Worker handle; other threads through a port attached to it (see writer-worker.ts).
 */
import type { MessagePort, Worker } from 'node:worker_threads';
import { fromWireError } from '../sql/store-error.js';
import type { WriteTargets } from './write-side.js';
import type { WriterPort, WriterRequest, WriterResponse } from './writer-ops.js';

export class WriterClient implements Omit<WriterPort, 'close'> {
  /** The write targets, each a stand-in whose method calls travel to the thread. */
  readonly writes: WriteTargets;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;
  private outbox: WriterRequest[] = [];
  private readonly wroteListeners: (() => void)[] = [];

  constructor(private readonly port: MessagePort | Worker) {
    const target = (name: string) =>
      new Proxy(
        {},
        {
          // Not a thenable: a target may be returned from an async function.
          get: (_, method) =>
            typeof method === 'string' && method !== 'then'
              ? (...args: unknown[]) => this.call(name, method, args)
              : undefined,
        },
      );
    // The targets are those of write-side.ts; a name it lacks is refused by the thread.
    const targets = new Map<string, object>();
    this.writes = new Proxy(
      {},
      {
        get: (_, name) => {
          if (typeof name !== 'string' || name === 'then') return undefined;
          let t = targets.get(name);
          if (!t) {
            t = target(name);
            targets.set(name, t);
          }
          return t;
        },
      },
    ) as WriteTargets;
    port.on('message', (msg: WriterResponse[] | { closed: true } | { ready: true } | { wrote: true }) => {
      if (!Array.isArray(msg)) {
        if ('wrote' in msg) for (const l of this.wroteListeners) l();
        return;
      }
      for (const r of msg) {
        const p = this.pending.get(r.id);
        if (!p) continue;
        this.pending.delete(r.id);
        if (r.ok) p.resolve(r.value);
        else p.reject(fromWireError(r.error));
      }
    });
  }

  /** Called when the thread that started the writer had writes committed (attached clients only). */
  onWrote(listener: () => void): void {
    this.wroteListeners.push(listener);
  }

  /** The writer is gone: every call in flight and every later one fails with `err`. */
  fail(err: Error): void {
    this.failure = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  private call(target: string, method: string, args: unknown[]): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Requests of one event-loop turn travel together (one wake-up of the writer thread).
      if (this.outbox.length === 0) setImmediate(() => this.send());
      // An upload commit is a deep tree of small objects: as one JSON string it crosses to the
      // writer thread for a third of what structured cloning costs the request thread. Its
      // fields survive JSON (no `undefined` the writer tells from a missing key); the other
      // operations are rare and are cloned, which keeps `undefined` as it is.
      this.outbox.push(
        method === 'commitUpload'
          ? { id, target, method, args: [], json: JSON.stringify(args) }
          : { id, target, method, args },
      );
    });
  }

  private send(): void {
    const batch = this.outbox;
    this.outbox = [];
    this.port.postMessage(batch);
  }

  /** Resolves once every call made so far has been answered. */
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
}

/** A writer client for another thread: closing it closes its port, not the writer. */
export class AttachedWriter extends WriterClient implements WriterPort {
  constructor(private readonly own: MessagePort) {
    super(own);
  }

  async close(): Promise<void> {
    await this.drain();
    this.own.close();
  }
}
