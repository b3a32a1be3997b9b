/**
 * Server-Sent Events to the dashboards: every connected stream gets each event as it happens,
 * a comment line as a heartbeat, and is dropped when it disconnects or stops reading.
 */
import type { ServerResponse } from 'node:http';

export interface LiveHubOptions {
  heartbeatMs?: number;
  maxClients?: number;
  /** A client whose unsent output grows past this is too slow and is disconnected. */
  maxBufferedBytes?: number;
}

export class LiveHub {
  private readonly clients = new Set<ServerResponse>();
  /** Streams that must still be allowed at each heartbeat (signed out, revoked: closed). */
  private readonly checks = new Map<ServerResponse, () => Promise<boolean>>();
  private timer: NodeJS.Timeout | undefined;
  private nextId = 1;
  private readonly heartbeatMs: number;
  private readonly maxClients: number;
  private readonly maxBufferedBytes: number;

  constructor(opts: LiveHubOptions = {}) {
    this.heartbeatMs = opts.heartbeatMs ?? 15_000;
    this.maxClients = opts.maxClients ?? 200;
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 1 << 20;
  }

  get size(): number {
    return this.clients.size;
  }

  get full(): boolean {
    return this.clients.size >= this.maxClients;
  }

  /**
   * Turns a response into an event stream; it stays open until the client goes away, `close`, or
   * `stillAllowed` (asked at each heartbeat) says no.
   */
  attach(res: ServerResponse, hello: unknown, stillAllowed?: () => Promise<boolean>): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-content-type-options': 'nosniff',
    });
    res.write(`retry: 3000\n\n`);
    this.clients.add(res);
    if (stillAllowed) this.checks.set(res, stillAllowed);
    res.on('close', () => this.detach(res));
    this.send(res, 'hello', hello);
    if (!this.timer) {
      this.timer = setInterval(() => this.beat(), this.heartbeatMs);
      this.timer.unref();
    }
  }

  publish(event: string, data: unknown): void {
    if (this.clients.size === 0) return;
    for (const res of this.clients) this.send(res, event, data);
  }

  /** Ends every stream (server shutting down). */
  close(): void {
    for (const res of this.clients) res.end();
    this.clients.clear();
    this.checks.clear();
    this.stopTimer();
  }

  private send(res: ServerResponse, event: string, data: unknown): void {
    this.write(res, `id: ${this.nextId++}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private beat(): void {
    for (const res of this.clients) this.write(res, `: heartbeat ${Date.now()}\n\n`);
    for (const [res, allowed] of this.checks) {
      allowed().then(
        (ok) => {
          if (!ok) res.end();
        },
        () => res.end(),
      );
    }
  }

  private write(res: ServerResponse, chunk: string): void {
    if (res.writableLength > this.maxBufferedBytes) {
      res.destroy();
      this.detach(res);
      return;
    }
    res.write(chunk);
  }

  private detach(res: ServerResponse): void {
    this.clients.delete(res);
    this.checks.delete(res);
    if (this.clients.size === 0) this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
