/** What the request thread and the MQTT thread ask of each other (see mqtt-thread.ts). */
import type { MessagePort } from 'node:worker_threads';
import type { MqttMode, MqttRuntimeSettings } from './mqtt-plan.js';
import type { MqttStatus } from './mqtt-service.js';
import type { StallInfo } from './relay.js';
import type { FieldSettingsSink } from './settings-topic.js';

/** What the thread is started with: a structured clone, so only what the thread reads. */
export interface MqttThreadSettings {
  runtime: MqttRuntimeSettings;
  /** For the thread's entry to open its own connection to the SQLite file in `runtime.dataDir`. */
  sqliteSynchronous: 'FULL' | 'NORMAL';
}

export interface MqttThreadData extends MqttThreadSettings {
  /** The level of the log the host was handed: the thread logs to its own. */
  logLevel: string;
  /** Attached to the storage writer thread: the relay marks records published through it. */
  writerPort: MessagePort;
}

/** Served on the MQTT thread by the runtime. */
export interface MqttThreadApi {
  status(): Promise<MqttStatus>;
  close(): Promise<void>;
}

/** Served on the request thread: what the runtime's ports reach there. */
export interface ServerApi extends FieldSettingsSink {
  stalled(info: StallInfo): void;
  connection(connected: boolean): void;
}

/** The thread's first message, before any call. */
export type MqttThreadStart =
  | {
      type: 'started';
      mode: MqttMode;
      url: string;
      connected: boolean;
      describe: string[];
    }
  | { type: 'failed'; settingsError: boolean; message: string };
