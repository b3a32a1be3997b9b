/**
 * Uploads as they become durable: what the ingest pipeline tells metrics, MQTT and the dashboard,
 * so those depend on this port rather than on the pipeline.
 */
import type { Generation } from '../model/device.js';
import type { PacketRecord, UploadProtocol } from './storage.js';

/** An upload just made durable, as told to `onCommitted` listeners. */
export interface CommittedUpload {
  deviceId: string;
  uploadId: string;
  nonce: number | null;
  receivedAt: number;
  /** The upload's `timestamp` (e84f720: device millis since boot; 1.3: unix seconds), if it said. */
  deviceTimestamp: number | null;
  generation: Generation;
  /** The device was registered by this upload. */
  registered: boolean;
  protocol: UploadProtocol;
  /** Uploads between the previous accepted nonce and this one that never arrived. */
  nonceGap: number;
  packets: readonly PacketRecord[];
  duplicatePackets: readonly number[];
}

export interface UploadFeed {
  onCommitted(listener: (upload: CommittedUpload) => void): void;
}
