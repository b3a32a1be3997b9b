/**
 * The relay against an in-memory outbox and a publisher whose acknowledgements the test controls
 * (the end-to-end tests run it against real brokers and the real store).
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { MqttMessage } from '../../../src/mqtt/messages.js';
import {
  MAX_RECORD_FAILURES,
  OutboxRelay,
  type Publisher,
  type RecordMessages,
  type StallInfo,
} from '../../../src/mqtt/relay.js';
import type { Outbox, OutboxRecord, OutboxStats, UploadBlocks } from '../../../src/ports/outbox.js';
import { eventually } from '../../helpers/eventually.js';

const log = pino({ level: 'silent' });

class MemoryOutbox implements Outbox {
  records: OutboxRecord[] = [];
  marked: number[][] = [];
  private next = 1;

  add(deviceId: string, createdAt = Date.now()): number {
    const id = this.next++;
    this.records.push({ id, deviceId, kind: 'upload', refId: String(id), payload: null, createdAt });
    return id;
  }

  async pendingOutbox(limit: number, afterId = 0): Promise<OutboxRecord[]> {
    return this.records.filter((r) => r.id > afterId).slice(0, limit);
  }

  async markPublished(ids: readonly number[]): Promise<void> {
    this.marked.push([...ids]);
    this.records = this.records.filter((r) => !ids.includes(r.id));
  }

  async outboxStats(): Promise<OutboxStats> {
    return {
      depth: this.records.length,
      oldestCreatedAt: this.records.length ? Math.min(...this.records.map((r) => r.createdAt)) : null,
    };
  }

  async uploadBlocks(): Promise<UploadBlocks | undefined> {
    return undefined;
  }
}

interface Pending {
  msg: MqttMessage;
  ack(): void;
  fail(err: Error): void;
}

class ManualPublisher implements Publisher {
  connected = true;
  autoAck = false;
  sent: MqttMessage[] = [];
  pending: Pending[] = [];
  private listeners: ((c: boolean) => void)[] = [];

  publish(msg: MqttMessage): Promise<void> {
    this.sent.push(msg);
    if (this.autoAck) return Promise.resolve();
    return new Promise((resolve, reject) => this.pending.push({ msg, ack: resolve, fail: reject }));
  }

  onConnectionChange(listener: (connected: boolean) => void): void {
    this.listeners.push(listener);
  }

  setConnected(c: boolean): void {
    this.connected = c;
    for (const l of this.listeners) l(c);
  }

  ack(predicate: (m: MqttMessage) => boolean = () => true): void {
    const keep: Pending[] = [];
    for (const p of this.pending) predicate(p.msg) ? p.ack() : keep.push(p);
    this.pending = keep;
  }
}

/** Three messages per record, named after it. */
const threeEach: RecordMessages = {
  async messagesFor(r) {
    return ['readings', 'state', 'data'].map((k) => ({
      topic: `t/${r.deviceId}/${k}`,
      payload: `${r.id}`,
      retain: false,
      id: `i-${r.id}-${k}`,
    }));
  },
};

let relay: OutboxRelay | undefined;
afterEach(async () => {
  await relay?.stop(10);
  relay = undefined;
});

function makeRelay(
  outbox: Outbox,
  pub: Publisher,
  extra: Partial<ConstructorParameters<typeof OutboxRelay>[3]> = {},
) {
  relay = new OutboxRelay(outbox, threeEach, pub, { stallMs: 60_000, pollMs: 60_000, log, ...extra });
  return relay;
}

describe('outbox relay', () => {
  it('publishes every record in id order and marks it only after all its messages are acknowledged', async () => {
    const outbox = new MemoryOutbox();
    for (let i = 0; i < 4; i++) outbox.add(i % 2 ? 'b' : 'a');
    const pub = new ManualPublisher();
    makeRelay(outbox, pub).start();
    await eventually(async () => expect(pub.sent).toHaveLength(12));
    expect(pub.sent.map((m) => m.id)).toEqual(
      [1, 2, 3, 4].flatMap((id) => [`i-${id}-readings`, `i-${id}-state`, `i-${id}-data`]),
    );
    // Record 2 complete, record 1 missing one acknowledgement: nothing may be marked yet.
    pub.ack((m) => m.payload === '2' || m.id === 'i-1-readings' || m.id === 'i-1-state');
    await new Promise((r) => setTimeout(r, 20));
    expect(outbox.marked.flat()).toEqual([]);
    pub.ack((m) => m.id === 'i-1-data');
    await eventually(async () => expect(outbox.marked.flat()).toEqual([1, 2]));
    pub.ack();
    await eventually(async () => expect(outbox.marked.flat()).toEqual([1, 2, 3, 4]));
    expect(outbox.records).toEqual([]);
  });

  it('keeps at most the window of messages in flight', async () => {
    const outbox = new MemoryOutbox();
    for (let i = 0; i < 20; i++) outbox.add('a');
    const pub = new ManualPublisher();
    makeRelay(outbox, pub, { window: 6 }).start();
    await eventually(async () => expect(pub.sent).toHaveLength(6));
    await new Promise((r) => setTimeout(r, 20));
    expect(pub.sent).toHaveLength(6);
    pub.ack();
    await eventually(async () => expect(pub.sent).toHaveLength(12));
    pub.autoAck = true;
    pub.ack();
    await eventually(async () => expect(outbox.records).toHaveLength(0));
    expect(pub.sent).toHaveLength(60);
  });

  it('wakes up on notify() without waiting for the poll', async () => {
    const outbox = new MemoryOutbox();
    const pub = new ManualPublisher();
    pub.autoAck = true;
    const r = makeRelay(outbox, pub);
    r.start();
    await new Promise((res) => setTimeout(res, 20));
    outbox.add('a');
    r.notify();
    await eventually(async () => expect(outbox.marked.flat()).toEqual([1]), 500);
  });

  it('pauses while disconnected and resumes where it stopped', async () => {
    const outbox = new MemoryOutbox();
    outbox.add('a');
    const pub = new ManualPublisher();
    pub.autoAck = true;
    pub.connected = false;
    makeRelay(outbox, pub).start();
    outbox.add('a');
    await new Promise((r) => setTimeout(r, 30));
    expect(pub.sent).toEqual([]);
    pub.setConnected(true);
    await eventually(async () => expect(outbox.marked.flat()).toEqual([1, 2]));
    expect(pub.sent.map((m) => m.payload)).toEqual(['1', '1', '1', '2', '2', '2']);
  });

  it('publishes again from the oldest unmarked record, with the same ids, when a publish fails', async () => {
    const outbox = new MemoryOutbox();
    outbox.add('a');
    outbox.add('a');
    const pub = new ManualPublisher();
    makeRelay(outbox, pub, { pollMs: 50 }).start();
    await eventually(async () => expect(pub.sent).toHaveLength(6));
    pub.ack((m) => m.payload === '1');
    await eventually(async () => expect(outbox.marked.flat()).toEqual([1]));
    pub.pending.find((p) => p.msg.id === 'i-2-state')?.fail(new Error('connection closed'));
    pub.autoAck = true;
    pub.ack();
    await eventually(async () => expect(outbox.records).toEqual([]), 3000);
    const ids = pub.sent.map((m) => m.id);
    expect(ids.slice(6)).toEqual(['i-2-readings', 'i-2-state', 'i-2-data']);
  });

  it('raises a stall once per stall and clears it when the outbox catches up', async () => {
    const outbox = new MemoryOutbox();
    outbox.add('a', Date.now() - 5000);
    const pub = new ManualPublisher();
    pub.autoAck = true;
    pub.connected = false;
    const stalls: StallInfo[] = [];
    const recovered: StallInfo[] = [];
    makeRelay(outbox, pub, {
      stallMs: 1000,
      pollMs: 10,
      onStall: (i) => stalls.push(i),
      onRecover: (i) => recovered.push(i),
    }).start();
    await eventually(async () => expect(stalls).toHaveLength(1));
    await new Promise((r) => setTimeout(r, 60));
    expect(stalls).toHaveLength(1);
    expect(stalls[0]).toMatchObject({ depth: 1, connected: false });
    expect(stalls[0].oldestAgeSeconds).toBeGreaterThanOrEqual(5);
    pub.setConnected(true);
    await eventually(async () => expect(recovered).toHaveLength(1));
    expect(stalls).toHaveLength(1);
  });

  it('retries a record whose messages cannot be built, and skips it only after repeated failures', async () => {
    const outbox = new MemoryOutbox();
    outbox.add('a');
    outbox.add('a');
    const pub = new ManualPublisher();
    pub.autoAck = true;
    let attempts = 0;
    const flaky: RecordMessages = {
      async messagesFor(r) {
        if (r.id === 1) {
          attempts++;
          throw new Error('damaged record');
        }
        return threeEach.messagesFor(r);
      },
    };
    relay = new OutboxRelay(outbox, flaky, pub, { stallMs: 60_000, pollMs: 5, log });
    relay.start();
    await eventually(async () => expect(outbox.records).toEqual([]));
    expect(attempts).toBe(MAX_RECORD_FAILURES);
    expect(pub.sent.map((m) => m.payload)).toEqual(['2', '2', '2']);
    expect(relay.stats()).toMatchObject({ skipped_records: 1 });
  });

  it('waits for in-flight acknowledgements on stop and leaves the rest pending', async () => {
    const outbox = new MemoryOutbox();
    outbox.add('a');
    outbox.add('a');
    const pub = new ManualPublisher();
    const r = makeRelay(outbox, pub);
    r.start();
    await eventually(async () => expect(pub.sent).toHaveLength(6));
    pub.ack((m) => m.payload === '1');
    await r.stop(100);
    relay = undefined;
    expect(outbox.records.map((x) => x.id)).toEqual([2]);
  });
});
