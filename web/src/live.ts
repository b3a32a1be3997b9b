/**
 * The live stream (`GET /api/live`, Server-Sent Events). EventSource cannot send the bearer
 * token, so each connection opens with a short-lived ticket from `POST /api/live/ticket`; when
 * the stream is refused or closed for good, a new ticket is fetched and it reconnects.
 */
import { api } from './api';
import type { SecurityEventView, UploadEvent } from './types';

export interface LiveEvents {
  upload: UploadEvent;
  security: SecurityEventView;
}

export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'stopped';

type Listener<K extends keyof LiveEvents> = (data: LiveEvents[K]) => void;

export class LiveStream {
  private source: EventSource | null = null;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private attempts = 0;
  private stopped = true;
  private readonly listeners: { [K in keyof LiveEvents]: Set<Listener<K>> } = {
    upload: new Set(),
    security: new Set(),
  };
  private readonly stateListeners = new Set<(s: LiveState) => void>();
  state: LiveState = 'stopped';

  on<K extends keyof LiveEvents>(event: K, fn: Listener<K>): () => void {
    const set = this.listeners[event] as Set<Listener<K>>;
    set.add(fn);
    return () => set.delete(fn);
  }

  onState(fn: (s: LiveState) => void): () => void {
    this.stateListeners.add(fn);
    fn(this.state);
    return () => this.stateListeners.delete(fn);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    this.source?.close();
    this.source = null;
    this.setState('stopped');
  }

  private setState(s: LiveState): void {
    this.state = s;
    for (const fn of this.stateListeners) fn(s);
  }

  private async connect(): Promise<void> {
    this.setState(this.attempts === 0 ? 'connecting' : 'reconnecting');
    let ticket: string;
    try {
      ticket = (await api<{ ticket: string }>('/api/live/ticket', { method: 'POST' })).ticket;
    } catch {
      this.scheduleReconnect();
      return;
    }
    if (this.stopped) return;
    const source = new EventSource(`/api/live?ticket=${encodeURIComponent(ticket)}`);
    this.source = source;
    source.addEventListener('hello', () => {
      this.attempts = 0;
      this.setState('live');
    });
    for (const name of ['upload', 'security'] as const) {
      source.addEventListener(name, (e) => this.dispatch(name, (e as MessageEvent<string>).data));
    }
    source.onerror = () => {
      if (this.stopped || this.source !== source) return;
      if (source.readyState === EventSource.CLOSED) {
        this.scheduleReconnect();
      } else {
        this.setState('reconnecting');
      }
    };
  }

  private dispatch<K extends keyof LiveEvents>(name: K, raw: string): void {
    let data: LiveEvents[K];
    try {
      data = JSON.parse(raw) as LiveEvents[K];
    } catch {
      return;
    }
    for (const fn of this.listeners[name] as Set<Listener<K>>) {
      try {
        fn(data);
      } catch (err) {
        console.error('live listener failed', err);
      }
    }
  }

  private scheduleReconnect(): void {
    this.source?.close();
    this.source = null;
    if (this.stopped) return;
    this.setState('reconnecting');
    const delay = Math.min(30_000, 1000 * 2 ** this.attempts++);
    this.retry = setTimeout(() => void this.connect(), delay);
  }
}

export const live = new LiveStream();
