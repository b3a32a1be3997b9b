/**
 * The request thread's handle on the MQTT thread (mqtt-worker.ts), used with the SQLite file: the
 * relay and the embedded broker run there, so publishing never holds up the answers to devices.
 * What the rest of the server asks of MQTT (readiness, status, "an upload was committed") becomes
 * a message; what MQTT asks of the server (settings received, an outbox stall) comes back as one.
 */
import { type MessagePort, Worker } from 'node:worker_threads';
import type { FastifyBaseLogger } from 'fastify';
import { type Settings, SettingsError } from '../settings.js';
import type { MqttHandle, MqttReadiness, MqttStatus } from './mqtt-service.js';
import type { FromMqttThread, MqttThreadData, ToMqttThread } from './mqtt-thread-messages.js';
import type { StallInfo } from './relay.js';
import type { FieldSettingsSink } from './settings-topic.js';

export interface MqttThreadDeps {
  /** A port attached to the storage writer thread (`SqliteStorage.attachWriter`). */
  writerPort: MessagePort;
  sink: FieldSettingsSink;
  log: FastifyBaseLogger;
  onStall?(info: StallInfo): void;
}

/** How long `/status` waits for the MQTT thread before answering without it. */
const STATUS_TIMEOUT_MS = 2000;
const CLOSE_TIMEOUT_MS = 10_000;

export class MqttThread implements MqttHandle {
  private connected: boolean;
  private alive = true;
  private notifyScheduled = false;
  private nextId = 1;
  private readonly statusCalls = new Map<number, (status: MqttStatus) => void>();
  private lastStatus: MqttStatus | null = null;
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly worker: Worker,
    private readonly started: Extract<FromMqttThread, { type: 'started' }>,
    private readonly deps: MqttThreadDeps,
  ) {
    this.connected = started.connected;
    worker.on('message', (msg: FromMqttThread) => this.receive(msg));
    worker.on('error', (err) => deps.log.error({ err }, 'mqtt thread failed; MQTT publication stopped'));
    worker.on('exit', (code) => {
      this.alive = false;
      this.connected = false;
      if (!this.closing) deps.log.error({ code }, 'mqtt thread exited; MQTT publication stopped');
    });
  }

  static async start(settings: Settings, deps: MqttThreadDeps): Promise<MqttThread> {
    const data: MqttThreadData = { settings, writerPort: deps.writerPort };
    const worker = new Worker(new URL('./mqtt-worker.js', import.meta.url), {
      workerData: data,
      transferList: [deps.writerPort],
    });
    let onMessage: ((msg: FromMqttThread) => void) | undefined;
    let onError: ((err: Error) => void) | undefined;
    let onExit: ((code: number) => void) | undefined;
    const started = await new Promise<Extract<FromMqttThread, { type: 'started' }>>((resolve, reject) => {
      onMessage = (msg: FromMqttThread) => {
        if (msg.type === 'started') resolve(msg);
        else if (msg.type === 'failed') {
          reject(msg.settingsError ? new SettingsError(msg.message) : new Error(msg.message));
        }
      };
      onError = reject;
      onExit = (code) => reject(new Error(`the MQTT thread exited during start-up (${code})`));
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    }).catch(async (err: Error) => {
      await worker.terminate();
      throw err;
    });
    // Only our own listeners: the Worker keeps internal ones of its own.
    if (onMessage) worker.off('message', onMessage);
    if (onError) worker.off('error', onError);
    if (onExit) worker.off('exit', onExit);
    return new MqttThread(worker, started, deps);
  }

  get warnings(): string[] {
    return this.started.warnings;
  }

  describe(): string[] {
    return this.started.describe;
  }

  ready(): MqttReadiness {
    return { ok: this.alive && this.connected, url: this.started.url };
  }

  status(): Promise<MqttStatus> {
    const fallback = (): MqttStatus =>
      this.lastStatus
        ? { ...this.lastStatus, link: { ...this.lastStatus.link, connected: this.alive && this.connected } }
        : {
            mode: this.started.mode,
            link: {
              connected: false,
              url: this.started.url,
              client_id: '',
              since: new Date().toISOString(),
              last_error: 'the MQTT thread is not answering',
              reconnects: 0,
            },
            relay: {
              published_records: 0,
              published_messages: 0,
              in_flight_messages: 0,
              skipped_records: 0,
              stalled: false,
              last_error: 'the MQTT thread is not answering',
            },
            outbox: { depth: -1, oldest_age_seconds: null },
          };
    if (!this.alive) return Promise.resolve(fallback());
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.statusCalls.delete(id);
        resolve(fallback());
      }, STATUS_TIMEOUT_MS);
      this.statusCalls.set(id, (status) => {
        clearTimeout(timer);
        this.lastStatus = status;
        resolve(status);
      });
      this.send({ type: 'status', id });
    });
  }

  /** The MQTT thread reads the upload from storage itself; it only needs waking. */
  committed(): void {
    if (this.notifyScheduled || !this.alive) return;
    this.notifyScheduled = true;
    setImmediate(() => {
      this.notifyScheduled = false;
      this.send({ type: 'notify' });
    });
  }

  close(): Promise<void> {
    this.closing ??= this.stop();
    return this.closing;
  }

  private async stop(): Promise<void> {
    if (this.alive) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
        this.worker.on('message', (msg: FromMqttThread) => {
          if (msg.type !== 'closed') return;
          clearTimeout(timer);
          resolve();
        });
        this.send({ type: 'close' });
      });
    }
    await this.worker.terminate();
  }

  private send(msg: ToMqttThread): void {
    if (this.alive) this.worker.postMessage(msg);
  }

  private receive(msg: FromMqttThread): void {
    switch (msg.type) {
      case 'connection':
        this.connected = msg.connected;
        return;
      case 'stall':
        this.deps.onStall?.(msg.info);
        return;
      case 'status':
        this.statusCalls.get(msg.id)?.(msg.status);
        this.statusCalls.delete(msg.id);
        return;
      case 'settings':
        this.deps.sink.applyFieldSettings(msg.target, msg.settings).then(
          () => this.send({ type: 'settings-done', id: msg.id, error: null }),
          (err: Error) => this.send({ type: 'settings-done', id: msg.id, error: err.message }),
        );
        return;
      default:
        return;
    }
  }
}
