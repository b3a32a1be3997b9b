/**
 * The outbox relay: publishes what the outbox records, in record order, at QoS 1, and marks a
 * record published only once the broker acknowledged every message built from it.
 *
 * Order: records are dispatched in id order over one connection, and only the acknowledged prefix
 * is marked, so after a crash publication resumes at the oldest record not known to be delivered
 * and a device's messages never overtake each other. The price is that a message may be
 * delivered twice (QoS 1 allows it); consumers drop repeats by `message_id`.
 *
 * Back-pressure: at most `window` messages of unmarked records are in flight. While the broker is
 * unreachable nothing new is dispatched; MQTT.js sends the in-flight ones again on reconnect.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Outbox, OutboxRecord, OutboxStats } from '../ports/outbox.js';
import type { MqttMessage } from './messages.js';

/** What the relay needs of a broker connection. */
export interface Publisher {
  readonly connected: boolean;
  /** Resolves on PUBACK; rejects only if the message can no longer be delivered. */
  publish(msg: MqttMessage): Promise<void>;
  onConnectionChange(listener: (connected: boolean) => void): void;
}

/** Turns outbox records into messages. */
export interface RecordMessages {
  /** The messages of one record, in publication order (may be none). */
  messagesFor(record: OutboxRecord): Promise<MqttMessage[]>;
  /** Publication starts again from the oldest unpublished record. */
  rewind?(): void;
}

export interface StallInfo {
  depth: number;
  oldestAgeSeconds: number;
  connected: boolean;
}

export interface RelayOptions {
  /** Most messages of unmarked records in flight. */
  window?: number;
  /** Records read per query. */
  batch?: number;
  /** Safety-net poll, also the stall check's period. */
  pollMs?: number;
  /** The outbox is stalled when its oldest record is older than this. */
  stallMs: number;
  /** Once per stall. */
  onStall?(info: StallInfo): void;
  onRecover?(info: StallInfo): void;
  log: FastifyBaseLogger;
  now?: () => number;
}

export interface RelayStats {
  published_records: number;
  published_messages: number;
  in_flight_messages: number;
  skipped_records: number;
  stalled: boolean;
  last_error: string | null;
}

interface Dispatched {
  id: number;
  remaining: number;
  messages: number;
}

/**
 * A record whose messages cannot be built this many times in a row (a poll apart) is skipped, so
 * one damaged record cannot hold back every later one; storage errors are retried indefinitely.
 */
export const MAX_RECORD_FAILURES = 10;

/** Records built between two turns of the event loop. */
const SLICE = 16;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class OutboxRelay {
  private readonly window: number;
  private readonly batch: number;
  private readonly pollMs: number;
  private readonly now: () => number;

  /** Dispatched records not yet handed to `markPublished`, in id order. */
  private queue: Dispatched[] = [];
  private inFlightMessages = 0;
  /** Highest record id dispatched; the next read starts after it. */
  private cursor = 0;
  /** Bumped by a rewind: acknowledgements of an older generation are ignored. */
  private generation = 0;
  private rewindPending = false;
  private stopped = true;
  private pumping: Promise<void> | null = null;
  private rerun = false;
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private toMark: number[] = [];
  private marking: Promise<void> = Promise.resolve();
  private markScheduled = false;
  private stalled = false;
  private lastError: string | null = null;
  private publishedRecords = 0;
  private publishedMessages = 0;
  private lastStats: OutboxStats | null = null;
  private failingRecord = 0;
  private failures = 0;
  private skippedRecords = 0;

  constructor(
    private readonly outbox: Outbox,
    private readonly messages: RecordMessages,
    private readonly publisher: Publisher,
    private readonly opts: RelayOptions,
  ) {
    this.window = opts.window ?? 256;
    this.batch = opts.batch ?? 100;
    this.pollMs = opts.pollMs ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.publisher.onConnectionChange((connected) => {
      if (connected) this.notify();
    });
    this.timer = setInterval(() => void this.tick(), this.pollMs);
    this.timer.unref();
    this.notify();
    void this.tick();
  }

  /** New records may be waiting: publish them soon. Cheap; calls are coalesced. */
  notify(): void {
    if (this.stopped || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.pumping) {
      this.rerun = true;
      return;
    }
    this.pumping = (async () => {
      try {
        do {
          this.rerun = false;
          await this.fill();
        } while (this.rerun && this.canDispatch());
      } catch (err) {
        // Storage trouble: left for the next poll, which starts again from the cursor.
        this.lastError = (err as Error).message;
        this.opts.log.error({ err }, 'mqtt relay: preparing outbox records failed; retrying');
      } finally {
        this.pumping = null;
      }
    })();
  }

  private canDispatch(): boolean {
    return !this.stopped && this.publisher.connected && this.inFlightMessages < this.window;
  }

  private async fill(): Promise<void> {
    while (this.canDispatch()) {
      if (this.rewindPending) {
        // Marks already handed over must land first, or their records would be read again.
        await this.marking;
        this.rewindPending = false;
        this.cursor = 0;
      }
      const gen = this.generation;
      const records = await this.outbox.pendingOutbox(this.batch, this.cursor);
      if (gen !== this.generation) continue;
      if (records.length === 0) return;
      let built = 0;
      for (const record of records) {
        if (!this.canDispatch()) return;
        // Building is synchronous work on the request thread: a backlog is worked off in slices,
        // so uploads waiting for an answer are not held up behind it.
        if (++built % SLICE === 0) await new Promise<void>((resolve) => setImmediate(resolve));
        if (gen !== this.generation || this.stopped) return;
        const msgs = await this.build(record);
        if (gen !== this.generation || this.stopped) return;
        this.dispatch(record, msgs, gen);
        this.cursor = record.id;
      }
    }
  }

  private async build(record: OutboxRecord): Promise<MqttMessage[]> {
    try {
      const msgs = await this.messages.messagesFor(record);
      this.failures = 0;
      return msgs;
    } catch (err) {
      if (this.failingRecord !== record.id) {
        this.failingRecord = record.id;
        this.failures = 0;
      }
      this.failures++;
      if (this.failures < MAX_RECORD_FAILURES) throw err;
      this.failures = 0;
      this.skippedRecords++;
      this.lastError = `record ${record.id} skipped: ${(err as Error).message}`;
      this.opts.log.error(
        { err, record: record.id, kind: record.kind, device: record.deviceId },
        `mqtt relay: outbox record failed ${MAX_RECORD_FAILURES} times; skipped, not published`,
      );
      return [];
    }
  }

  private dispatch(record: OutboxRecord, msgs: MqttMessage[], gen: number): void {
    const entry: Dispatched = { id: record.id, remaining: msgs.length, messages: msgs.length };
    this.queue.push(entry);
    this.inFlightMessages += msgs.length;
    if (msgs.length === 0) {
      this.settle();
      return;
    }
    for (const msg of msgs) {
      this.publisher.publish(msg).then(
        () => {
          if (gen !== this.generation) return;
          this.publishedMessages++;
          entry.remaining--;
          if (entry.remaining === 0) this.settle();
        },
        (err: Error) => {
          if (gen !== this.generation) return;
          this.rewind(`publishing ${msg.id} failed: ${err.message}`);
        },
      );
    }
  }

  /** Hands the acknowledged prefix of the queue to `markPublished`. */
  private settle(): void {
    let freed = false;
    while (this.queue.length > 0 && this.queue[0].remaining === 0) {
      const done = this.queue.shift() as Dispatched;
      this.inFlightMessages -= done.messages;
      this.toMark.push(done.id);
      freed = true;
    }
    if (!freed) return;
    this.scheduleMark();
    this.notify();
  }

  private scheduleMark(): void {
    if (this.markScheduled) return;
    this.markScheduled = true;
    // One markPublished per event-loop turn, however many acknowledgements arrived in it.
    setImmediate(() => {
      this.markScheduled = false;
      this.flushMarks();
    });
  }

  private flushMarks(): void {
    const ids = this.toMark;
    if (ids.length === 0) return;
    this.toMark = [];
    const gen = this.generation;
    this.marking = this.marking
      .then(() => this.outbox.markPublished(ids))
      .then(
        () => {
          this.publishedRecords += ids.length;
        },
        (err: Error) => {
          this.opts.log.error({ err }, 'mqtt relay: marking records published failed');
          if (gen === this.generation) this.rewind(`markPublished failed: ${err.message}`);
        },
      );
  }

  /** Forgets what is in flight and starts again from the oldest unpublished record. */
  private rewind(reason: string): void {
    this.lastError = reason;
    this.opts.log.warn({ reason }, 'mqtt relay: publishing again from the oldest unpublished record');
    this.generation++;
    this.queue = [];
    this.inFlightMessages = 0;
    this.toMark = [];
    this.rewindPending = true;
    this.messages.rewind?.();
    setTimeout(() => this.notify(), Math.min(this.pollMs, 1000)).unref();
  }

  private async tick(): Promise<void> {
    this.notify();
    let stats: OutboxStats;
    try {
      stats = await this.outbox.outboxStats();
    } catch (err) {
      this.opts.log.error({ err }, 'mqtt relay: reading outbox statistics failed');
      return;
    }
    this.lastStats = stats;
    const age = stats.oldestCreatedAt === null ? 0 : this.now() - stats.oldestCreatedAt;
    const info: StallInfo = {
      depth: stats.depth,
      oldestAgeSeconds: Math.max(0, Math.round(age / 1000)),
      connected: this.publisher.connected,
    };
    if (!this.stalled && stats.oldestCreatedAt !== null && age > this.opts.stallMs) {
      this.stalled = true;
      this.opts.log.warn({ outbox: info }, 'mqtt relay: outbox stalled: records are not being published');
      this.opts.onStall?.(info);
    } else if (this.stalled && age <= this.opts.stallMs) {
      this.stalled = false;
      this.opts.log.info({ outbox: info }, 'mqtt relay: outbox no longer stalled');
      this.opts.onRecover?.(info);
    }
  }

  async outboxStatus(): Promise<{ depth: number; oldest_age_seconds: number | null }> {
    const stats = await this.outbox.outboxStats().catch(() => this.lastStats);
    if (!stats) return { depth: -1, oldest_age_seconds: null };
    return {
      depth: stats.depth,
      oldest_age_seconds:
        stats.oldestCreatedAt === null
          ? null
          : Math.max(0, Math.round((this.now() - stats.oldestCreatedAt) / 1000)),
    };
  }

  stats(): RelayStats {
    return {
      published_records: this.publishedRecords,
      published_messages: this.publishedMessages,
      in_flight_messages: this.inFlightMessages,
      skipped_records: this.skippedRecords,
      stalled: this.stalled,
      last_error: this.lastError,
    };
  }

  /**
   * Stops dispatching, waits up to `timeoutMs` for in-flight messages to be acknowledged and
   * marks them. What is still unacknowledged stays pending and is published after a restart.
   */
  async stop(timeoutMs = 3000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    const deadline = Date.now() + timeoutMs;
    while (this.pumping) await this.pumping;
    while (this.queue.length > 0 && this.publisher.connected && Date.now() < deadline) await sleep(10);
    this.flushMarks();
    await this.marking;
  }
}
