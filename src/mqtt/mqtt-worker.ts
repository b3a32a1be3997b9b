/**
 * The MQTT thread's side: it hosts the runtime off the request thread, where reading the outbox and
 * building an upload's messages (about as costly as accepting it) no longer delay the answers to
 * devices. The thread's entry module belongs to the store profile (`adapters/sqlite/mqtt-worker.ts`):
 * it opens the thread's own view of the outbox and hands it here, so this side knows no adapter.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import type { Outbox } from '../ports/outbox.js';
import { SettingsError } from '../settings/parsers.js';
import { MqttRuntime } from './mqtt-runtime.js';
import type { MqttThreadApi, MqttThreadData, MqttThreadStart, ServerApi } from './mqtt-thread-messages.js';
import type { DeviceDirectory } from './outbox-messages.js';
import { ThreadChannel } from './thread-channel.js';

/** The thread's own view of the store: it reads the outbox itself and marks records published. */
export interface MqttThreadStore extends Outbox, DeviceDirectory {
  close(): Promise<void>;
}

/** The thread's store, and how it learns that the request thread's writes were committed. */
export interface MqttThreadStorage {
  store: MqttThreadStore;
  /** Called after writes that may have added outbox records: the relay reads them then. */
  onWritten(listener: () => void): void;
}

/** Runs the MQTT thread on the store `openStore` gives it; call once, from the thread's entry. */
export async function runMqttWorker(openStore: (data: MqttThreadData) => MqttThreadStorage): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('mqtt-worker must run in a worker thread');
  const data = workerData as MqttThreadData;
  const report = (msg: MqttThreadStart) => port.postMessage(msg);
  const log = pino({ level: data.logLevel });
  const { store, onWritten } = openStore(data);
  const server = new ThreadChannel<MqttThreadApi, ServerApi>(port);
  port.on('message', (msg: unknown) => server.receive(msg));

  let runtime: MqttRuntime | null;
  try {
    runtime = await MqttRuntime.start(data.runtime, {
      outbox: store,
      devices: store,
      // Settings received over MQTT change the configuration owned by the request thread.
      sink: { applyFieldSettings: (target, values) => server.call('applyFieldSettings', target, values) },
      log,
      onStall: (info) => server.tell('stalled', info),
    });
    if (!runtime) throw new Error('MQTT is off: the MQTT thread should not have been started');
  } catch (err) {
    report({ type: 'failed', settingsError: err instanceof SettingsError, message: (err as Error).message });
    await store.close();
    return;
  }
  const running = runtime;
  onWritten(() => running.notify());
  running.onConnectionChange((connected) => server.tell('connection', connected));
  server.serve({
    status: () => running.status(),
    close: () =>
      running
        .close()
        .then(() => store.close())
        .catch((err: Error) => log.error({ err }, 'mqtt thread: closing failed')),
  });
  const { ok, url } = running.ready();
  report({
    type: 'started',
    mode: running.mode,
    url,
    connected: ok,
    describe: running.describe(),
  });
}
