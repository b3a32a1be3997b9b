/**
 * MQTT as the rest of the server sees it, wherever it runs. `app.ts` starts it through the store
 * profile (`Stores.startMqtt`) after storage and closes it before; the profile picks the host:
 * the request thread (`in-process-host.ts`) or a thread of its own (`mqtt-thread.ts`), both
 * running the one `MqttRuntime`.
 */
import type { CommittedUpload } from '../ports/upload-feed.js';
import type { LinkStatus } from './mqtt-link.js';
import type { MqttMode } from './mqtt-plan.js';
import type { MqttPorts } from './mqtt-runtime.js';
import type { RelayStats } from './relay.js';

/** What MQTT needs from the rest of the server; the store profile adds the outbox and devices. */
export type MqttStartDeps = Pick<MqttPorts, 'sink' | 'log' | 'onStall'>;

export interface MqttReadiness {
  ok: boolean;
  url: string;
}

export interface MqttStatus {
  mode: MqttMode;
  link: LinkStatus;
  relay: RelayStats;
  outbox: { depth: number; oldest_age_seconds: number | null };
}

export interface MqttHandle {
  /** Start-up lines for the operator. */
  describe(): string[];
  ready(): MqttReadiness;
  status(): Promise<MqttStatus>;
  /** An upload was committed: publish it soon. */
  committed(upload: CommittedUpload): void;
  close(): Promise<void>;
}
