/**
 * Starting a worker thread that reports when it is ready: shared by the storage threads and the
 * MQTT thread. Only the listeners added here are removed afterwards (a Worker keeps internal
 * ones of its own, which must stay).
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** What a start-up message means: ready (with what it reported), failed, or nothing yet. */
export type StartVerdict<R> = { ready: R } | { failed: Error } | undefined;

export async function startWorker<M, R>(
  url: URL,
  options: WorkerOptions,
  verdict: (msg: M) => StartVerdict<R>,
): Promise<{ worker: Worker; ready: R }> {
  const worker = new Worker(url, options);
  const listeners: {
    message?: (msg: M) => void;
    error?: (err: Error) => void;
    exit?: (code: number) => void;
  } = {};
  try {
    const ready = await new Promise<R>((resolve, reject) => {
      listeners.message = (msg: M) => {
        const v = verdict(msg);
        if (v && 'ready' in v) resolve(v.ready);
        else if (v) reject(v.failed);
      };
      listeners.error = reject;
      listeners.exit = (code) => reject(new Error(`${url.pathname} exited during start-up (${code})`));
      worker.on('message', listeners.message);
      worker.on('error', listeners.error);
      worker.on('exit', listeners.exit);
    });
    return { worker, ready };
  } catch (err) {
    await worker.terminate();
    throw err;
  } finally {
    if (listeners.message) worker.off('message', listeners.message);
    if (listeners.error) worker.off('error', listeners.error);
    if (listeners.exit) worker.off('exit', listeners.exit);
  }
}
