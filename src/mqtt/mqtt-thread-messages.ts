/** What the request thread and the MQTT thread tell each other (see mqtt-thread.ts). */
import type { MessagePort } from 'node:worker_threads';
import type { Settings } from '../settings.js';
import type { MqttMode, MqttStatus } from './mqtt-service.js';
import type { StallInfo } from './relay.js';
import type { ParsedFieldSettings } from './settings-topic.js';

export interface MqttThreadData {
  settings: Settings;
  /** Attached to the storage writer thread: the relay marks records published through it. */
  writerPort: MessagePort;
}

export type ToMqttThread =
  | { type: 'notify' }
  | { type: 'status'; id: number }
  | { type: 'settings-done'; id: number; error: string | null }
  | { type: 'close' };

export type FromMqttThread =
  | {
      type: 'started';
      mode: MqttMode;
      url: string;
      connected: boolean;
      describe: string[];
      warnings: string[];
    }
  | { type: 'failed'; settingsError: boolean; message: string }
  | { type: 'connection'; connected: boolean }
  | { type: 'stall'; info: StallInfo }
  | { type: 'settings'; id: number; target: string | null; settings: ParsedFieldSettings }
  | { type: 'status'; id: number; status: MqttStatus }
  | { type: 'closed' };
