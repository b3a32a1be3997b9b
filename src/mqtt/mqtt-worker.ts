/**
 * The MQTT thread: the embedded broker (or the link to an external one) and the outbox relay, off
 * the request thread. Building and publishing an upload's messages costs about as much as
 * accepting it; here it no longer delays the answers to devices. The thread's entry module belongs
 * to the store profile (`adapters/sqlite/mqtt-worker.ts`): it opens the thread's own view of the
 * outbox and hands it here, so this side knows no adapter.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import type { Outbox } from '../ports/outbox.js';
import { SettingsError } from '../settings.js';
import { MqttService } from './mqtt-service.js';
import type { FromMqttThread, MqttThreadData, ToMqttThread } from './mqtt-thread-messages.js';
import type { DeviceDirectory } from './outbox-messages.js';
import type { FieldSettingsSink } from './settings-topic.js';

/** The thread's own view of the store: it reads the outbox itself and marks records published. */
export interface MqttThreadStore extends Outbox, DeviceDirectory {
  close(): Promise<void>;
}

/** Runs the MQTT thread on the store `openStore` gives it; call once, from the thread's entry. */
export async function runMqttWorker(openStore: (data: MqttThreadData) => MqttThreadStore): Promise<void> {
  const parent = parentPort;
  if (!parent) throw new Error('mqtt-worker must run in a worker thread');
  const port = parent;
  const data = workerData as MqttThreadData;
  const { settings } = data;
  const post = (msg: FromMqttThread) => port.postMessage(msg);

  const log = pino({ level: settings.logLevel });
  const storage = openStore(data);

  // Settings received over MQTT change the configuration owned by the request thread.
  let nextId = 1;
  const settingsCalls = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  const sink: FieldSettingsSink = {
    applyFieldSettings: (target, values) =>
      new Promise<void>((resolve, reject) => {
        const id = nextId++;
        settingsCalls.set(id, { resolve, reject });
        post({ type: 'settings', id, target, settings: values });
      }),
  };

  async function start(): Promise<MqttService | null> {
    try {
      const service = await MqttService.start(settings, {
        outbox: storage,
        devices: storage,
        sink,
        log,
        committedInProcess: false,
        onStall: (info) => post({ type: 'stall', info }),
      });
      if (!service) throw new Error('MQTT is off: the MQTT thread should not have been started');
      service.onConnectionChange((connected) => post({ type: 'connection', connected }));
      const ready = service.ready();
      post({
        type: 'started',
        mode: service.mode,
        url: ready.url,
        connected: ready.ok,
        describe: service.describe(),
        warnings: service.warnings,
      });
      return service;
    } catch (err) {
      post({ type: 'failed', settingsError: err instanceof SettingsError, message: (err as Error).message });
      await storage.close();
      return null;
    }
  }

  const service = await start();
  port.on('message', (msg: ToMqttThread) => {
    if (!service) return;
    switch (msg.type) {
      case 'notify':
        service.relay.notify();
        return;
      case 'status':
        service.status().then(
          (status) => post({ type: 'status', id: msg.id, status }),
          (err: Error) => log.error({ err }, 'mqtt thread: status failed'),
        );
        return;
      case 'settings-done': {
        const call = settingsCalls.get(msg.id);
        settingsCalls.delete(msg.id);
        if (msg.error === null) call?.resolve();
        else call?.reject(new Error(msg.error));
        return;
      }
      case 'close':
        service
          .close()
          .then(() => storage.close())
          .catch((err: Error) => log.error({ err }, 'mqtt thread: closing failed'))
          .finally(() => post({ type: 'closed' }));
        return;
    }
  });
}
