/**
 * The request thread's handle on the MQTT thread (mqtt-worker.ts), used with the SQLite file: the
 * runtime runs there, so publishing never holds up the answers to devices. The store profile names
 * the thread's entry module, which opens the store on the thread's side. This side only hosts: it
 * starts the thread, forwards "an upload was committed", and serves what the runtime's ports reach
 * here (settings received, an outbox stall) over a typed channel. Should the thread die, it is
 * started again (with backoff) and resumes at the oldest unpublished outbox record, as after a
 * server restart; uploads are accepted meanwhile.
 */
import type { MessagePort, Worker } from 'node:worker_threads';
import { startWorker } from '../runtime/worker-start.js';
import { SettingsError } from '../settings/parsers.js';
import type { MqttHandle, MqttReadiness, MqttStartDeps, MqttStatus } from './mqtt-service.js';
import type {
  MqttThreadApi,
  MqttThreadData,
  MqttThreadSettings,
  MqttThreadStart,
  ServerApi,
} from './mqtt-thread-messages.js';
import { ThreadChannel } from './thread-channel.js';

export interface MqttThreadDeps extends MqttStartDeps {
  /** A new port attached to the storage writer thread for each start (`SqliteStorage.attachWriter`). */
  attachWriter(): MessagePort;
  /** The thread's entry: a module that calls `runMqttWorker` with its store (given by the profile). */
  worker: URL;
}

/** How long `/status` waits for the MQTT thread before answering without it. */
const STATUS_TIMEOUT_MS = 2000;
const CLOSE_TIMEOUT_MS = 10_000;
/** Restart delays after the thread died: the first, and the cap of the doubling. */
const RESTART_FIRST_MS = 1000;
const RESTART_MAX_MS = 30_000;

type Started = Extract<MqttThreadStart, { type: 'started' }>;

interface Running {
  worker: Worker;
  channel: ThreadChannel<ServerApi, MqttThreadApi>;
  started: Started;
}

/** Starts an MQTT thread and waits until it reports started (or why it could not start). */
async function spawn(
  settings: MqttThreadSettings,
  deps: MqttThreadDeps,
  server: ServerApi,
): Promise<Running> {
  const writerPort = deps.attachWriter();
  const data: MqttThreadData = { ...settings, logLevel: deps.log.level, writerPort };
  const { worker, ready } = await startWorker<MqttThreadStart, Started>(
    deps.worker,
    { workerData: data, transferList: [writerPort] },
    (msg) => {
      if (msg.type === 'started') return { ready: msg };
      if (msg.type === 'failed') {
        return { failed: msg.settingsError ? new SettingsError(msg.message) : new Error(msg.message) };
      }
      return undefined;
    },
  );
  const channel = new ThreadChannel<ServerApi, MqttThreadApi>(worker);
  channel.serve(server);
  worker.on('message', (msg: unknown) => channel.receive(msg));
  return { worker, channel, started: ready };
}

/** `promise`'s value, or `undefined` if it fails or takes longer than `ms`. */
function within<T>(ms: number, promise: Promise<T>): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      () => {
        clearTimeout(timer);
        resolve(undefined);
      },
    );
  });
}

export class MqttThread implements MqttHandle {
  /** The current thread, and what it reported (a restarted embedded broker may listen elsewhere). */
  private running!: Running;
  private connected = false;
  private alive = false;
  private lastStatus: MqttStatus | null = null;
  private closing: Promise<void> | null = null;
  private restartTimer: NodeJS.Timeout | undefined;
  private restartDelay = RESTART_FIRST_MS;
  private restarts = 0;
  /** What the runtime's ports reach on this thread, served to every thread started. */
  private readonly server: ServerApi = {
    applyFieldSettings: (target, values) => this.deps.sink.applyFieldSettings(target, values),
    stalled: (info) => this.deps.onStall?.(info),
    connection: (connected) => {
      this.connected = connected;
    },
  };

  private constructor(
    private readonly settings: MqttThreadSettings,
    private readonly deps: MqttThreadDeps,
  ) {}

  static async start(settings: MqttThreadSettings, deps: MqttThreadDeps): Promise<MqttThread> {
    const thread = new MqttThread(settings, deps);
    thread.adopt(await spawn(settings, deps, thread.server));
    return thread;
  }

  /** Times the thread was started again after dying. */
  get restartCount(): number {
    return this.restarts;
  }

  private adopt(running: Running): void {
    this.running = running;
    this.alive = true;
    this.connected = running.started.connected;
    const { worker, channel } = running;
    worker.on('error', (err) => this.deps.log.error({ err }, 'mqtt thread failed'));
    worker.on('exit', (code) => {
      if (running !== this.running) return;
      this.alive = false;
      this.connected = false;
      channel.fail('the MQTT thread exited');
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
      spawn(this.settings, this.deps, this.server).then(
        (running) => {
          if (this.closing) {
            void running.worker.terminate();
            return;
          }
          this.adopt(running);
          this.restarts++;
          this.restartDelay = RESTART_FIRST_MS;
          this.deps.log.warn(
            { restarts: this.restarts, mqtt: running.started.url },
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

  describe(): string[] {
    return this.running.started.describe;
  }

  ready(): MqttReadiness {
    return { ok: this.alive && this.connected, url: this.running.started.url };
  }

  async status(): Promise<MqttStatus> {
    const status = this.alive
      ? await within(STATUS_TIMEOUT_MS, this.running.channel.call('status'))
      : undefined;
    if (status) this.lastStatus = status;
    return status ?? this.unanswered();
  }

  /** What `/status` shows while the thread does not answer. */
  private unanswered(): MqttStatus {
    const connected = this.alive && this.connected;
    if (this.lastStatus) return { ...this.lastStatus, link: { ...this.lastStatus.link, connected } };
    const error = 'the MQTT thread is not answering';
    return {
      mode: this.running.started.mode,
      link: {
        connected: false,
        url: this.running.started.url,
        client_id: '',
        since: new Date().toISOString(),
        last_error: error,
        reconnects: 0,
      },
      relay: {
        published_records: 0,
        published_messages: 0,
        in_flight_messages: 0,
        skipped_records: 0,
        stalled: false,
        last_error: error,
      },
      outbox: { depth: -1, oldest_age_seconds: null },
    };
  }

  /**
   * Nothing to do here: the thread reads the upload from storage itself, and the writer thread
   * wakes it once the commit landed (adapters/sqlite/writer-worker.ts), one wake-up per group
   * commit instead of a message from this thread per turn.
   */
  committed(): void {}

  close(): Promise<void> {
    this.closing ??= this.stop();
    return this.closing;
  }

  private async stop(): Promise<void> {
    clearTimeout(this.restartTimer);
    if (this.alive) await within(CLOSE_TIMEOUT_MS, this.running.channel.call('close'));
    await this.running.worker.terminate();
  }
}
