/**
 * The request thread's handle on the MQTT thread (mqtt-worker.ts), used with the SQLite file: the
 * relay and the embedded broker run there, so publishing never holds up the answers to devices.
 * The store profile names the thread's entry module, which opens the store on the thread's side.
 * What the rest of the server asks of MQTT (readiness, status, "an upload was committed") becomes
 * a message; what MQTT asks of the server (settings received, an outbox stall) comes back as one.
 * Should the thread die, it is started again (with backoff) and resumes at the oldest unpublished
 * outbox record, as after a server restart; uploads are accepted meanwhile.
 */
import type { MessagePort, Worker } from 'node:worker_threads';
import type { FastifyBaseLogger } from 'fastify';
import { type Settings, SettingsError } from '../settings.js';
import { startWorker } from '../worker-start.js';
import type { MqttHandle, MqttReadiness, MqttStatus } from './mqtt-service.js';
import type { FromMqttThread, MqttThreadData, ToMqttThread } from './mqtt-thread-messages.js';
import type { StallInfo } from './relay.js';
import type { FieldSettingsSink } from './settings-topic.js';

export interface MqttThreadDeps {
  /** A new port attached to the storage writer thread for each start (`SqliteStorage.attachWriter`). */
  attachWriter(): MessagePort;
  /** The thread's entry: a module that calls `runMqttWorker` with its store (given by the profile). */
  worker: URL;
  sink: FieldSettingsSink;
  log: FastifyBaseLogger;
  onStall?(info: StallInfo): void;
}

/** How long `/status` waits for the MQTT thread before answering without it. */
const STATUS_TIMEOUT_MS = 2000;
const CLOSE_TIMEOUT_MS = 10_000;
/** Restart delays after the thread died: the first, and the cap of the doubling. */
const RESTART_FIRST_MS = 1000;
const RESTART_MAX_MS = 30_000;

type Started = Extract<FromMqttThread, { type: 'started' }>;

/** Starts an MQTT thread and waits until it reports started (or why it could not start). */
async function spawn(
  settings: Settings,
  deps: MqttThreadDeps,
): Promise<{ worker: Worker; started: Started }> {
  const writerPort = deps.attachWriter();
  const data: MqttThreadData = { settings, writerPort };
  const { worker, ready } = await startWorker<FromMqttThread, Started>(
    deps.worker,
    { workerData: data, transferList: [writerPort] },
    (msg: FromMqttThread) => {
      if (msg.type === 'started') return { ready: msg };
      if (msg.type === 'failed') {
        return { failed: msg.settingsError ? new SettingsError(msg.message) : new Error(msg.message) };
      }
      return undefined;
    },
  );
  return { worker, started: ready };
}

export class MqttThread implements MqttHandle {
  private worker: Worker;
  /** What the running thread reported (a restarted embedded broker may listen elsewhere). */
  private started: Started;
  private connected: boolean;
  private alive = true;
  private notifyScheduled = false;
  private nextId = 1;
  private readonly statusCalls = new Map<number, (status: MqttStatus) => void>();
  private lastStatus: MqttStatus | null = null;
  private closing: Promise<void> | null = null;
  private restartTimer: NodeJS.Timeout | undefined;
  private restartDelay = RESTART_FIRST_MS;
  private restarts = 0;

  private constructor(
    first: { worker: Worker; started: Started },
    private readonly settings: Settings,
    private readonly deps: MqttThreadDeps,
  ) {
    this.worker = first.worker;
    this.started = first.started;
    this.connected = first.started.connected;
    this.watch(first.worker);
  }

  static async start(settings: Settings, deps: MqttThreadDeps): Promise<MqttThread> {
    return new MqttThread(await spawn(settings, deps), settings, deps);
  }

  /** Times the thread was started again after dying. */
  get restartCount(): number {
    return this.restarts;
  }

  private watch(worker: Worker): void {
    worker.on('message', (msg: FromMqttThread) => this.receive(msg));
    worker.on('error', (err) => this.deps.log.error({ err }, 'mqtt thread failed'));
    worker.on('exit', (code) => {
      if (worker !== this.worker) return;
      this.alive = false;
      this.connected = false;
      if (this.closing) return;
      this.deps.log.error(
        { code, restartInMs: this.restartDelay },
        'mqtt thread exited; publication paused until it is started again (uploads stay in the outbox)',
      );
      this.scheduleRestart();
    });
  }

  private scheduleRestart(): void {
    const delay = this.restartDelay;
    this.restartDelay = Math.min(RESTART_MAX_MS, delay * 2);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.closing) return;
      spawn(this.settings, this.deps).then(
        ({ worker, started }) => {
          if (this.closing) {
            void worker.terminate();
            return;
          }
          this.worker = worker;
          this.started = started;
          this.alive = true;
          this.connected = started.connected;
          this.restarts++;
          this.restartDelay = RESTART_FIRST_MS;
          this.watch(worker);
          this.deps.log.warn(
            { restarts: this.restarts, mqtt: started.url },
            'mqtt thread started again; publication resumes',
          );
        },
        (err: Error) => {
          this.deps.log.error({ err: err.message }, 'mqtt thread could not be started again; retrying');
          this.scheduleRestart();
        },
      );
    }, delay);
    this.restartTimer.unref();
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
    clearTimeout(this.restartTimer);
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
