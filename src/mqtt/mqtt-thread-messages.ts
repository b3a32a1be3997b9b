/** What the request thread and the MQTT thread ask of each other (see mqtt-thread.ts). */
import type { MessagePort } from 'node:worker_threads';
import type { Settings } from '../settings.js';
import type { MqttMode } from './mqtt-plan.js';
import type { MqttStatus } from './mqtt-service.js';
import type { StallInfo } from './relay.js';
import type { FieldSettingsSink } from './settings-topic.js';

export interface MqttThreadData {
  settings: Settings;
  /** Attached to the storage writer thread: the relay marks records published through it. */
  writerPort: MessagePort;
}

/** Served on the MQTT thread by the runtime. */
export interface MqttThreadApi {
  /** New outbox records may be waiting. */
  notify(): void;
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
      warnings: string[];
    }
  | { type: 'failed'; settingsError: boolean; message: string };
