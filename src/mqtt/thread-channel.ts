/**
 * Calls between two threads, typed by the interface each side serves: `call` waits for the other
 * side's answer (or its error's message), `tell` expects none. Messages that are not the channel's
 * (a thread's start-up report) are left to the caller.
 */

type Method = (...args: never[]) => unknown;
type Names<T> = { [K in keyof T]: T[K] extends Method ? K : never }[keyof T] & string;
type Args<T, K extends keyof T> = T[K] extends (...args: infer A) => unknown ? A : never;
type Answer<T, K extends keyof T> = T[K] extends (...args: never[]) => infer R ? Awaited<R> : never;

/** A `Worker`, or `parentPort` inside one. */
export interface Endpoint {
  postMessage(msg: unknown): void;
}

type Wire =
  /** `id` 0: told, no answer wanted. */
  | { channel: 'call'; id: number; name: string; args: unknown[] }
  | { channel: 'answer'; id: number; value: unknown }
  | { channel: 'answer'; id: number; error: string };

function isWire(msg: unknown): msg is Wire {
  return typeof msg === 'object' && msg !== null && 'channel' in msg;
}

export class ThreadChannel<Local extends object, Remote extends object> {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(err: Error): void }>();
  private local: Local | null = null;

  constructor(private readonly endpoint: Endpoint) {}

  /** Answers the other side's calls from now on (calls before it fail, tells are dropped). */
  serve(local: Local): void {
    this.local = local;
  }

  call<K extends Names<Remote>>(name: K, ...args: Args<Remote, K>): Promise<Answer<Remote, K>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve: (v) => resolve(v as Answer<Remote, K>), reject });
      this.post({ channel: 'call', id, name, args });
    });
  }

  tell<K extends Names<Remote>>(name: K, ...args: Args<Remote, K>): void {
    this.post({ channel: 'call', id: 0, name, args });
  }

  /** Handles `msg` if it is the channel's; `false` otherwise. */
  receive(msg: unknown): boolean {
    if (!isWire(msg)) return false;
    if (msg.channel === 'answer') {
      const call = this.waiting.get(msg.id);
      this.waiting.delete(msg.id);
      if ('error' in msg) call?.reject(new Error(msg.error));
      else call?.resolve(msg.value);
    } else {
      this.run(msg.id, msg.name, msg.args);
    }
    return true;
  }

  /** The other side is gone: the calls waiting for it fail. */
  fail(reason: string): void {
    for (const call of this.waiting.values()) call.reject(new Error(reason));
    this.waiting.clear();
  }

  private run(id: number, name: string, args: unknown[]): void {
    const method = this.local ? (this.local as Record<string, unknown>)[name] : undefined;
    const invoke = () => {
      if (typeof method !== 'function') throw new Error(`${name}: not served`);
      return (method as (...a: unknown[]) => unknown).apply(this.local, args);
    };
    if (id === 0) {
      // Told: nobody waits, so a failure surfaces here as any listener's would. Before `serve`
      // there is nothing to tell yet.
      if (this.local) invoke();
      return;
    }
    new Promise<unknown>((resolve) => resolve(invoke())).then(
      (value) => this.post({ channel: 'answer', id, value }),
      (err: unknown) => this.post({ channel: 'answer', id, error: (err as Error).message ?? String(err) }),
    );
  }

  private post(msg: Wire): void {
    this.endpoint.postMessage(msg);
  }
}
