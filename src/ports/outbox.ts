/**
 * The MQTT outbox: what must be published is recorded in the same transaction that stores it,
 * and a relay publishes it afterwards. A record names what happened; the relay builds the
 * messages from what is stored, so subscribers see exactly the stored data.
 *
 * Ownership with several instances on one store: the store, not the relay, decides which relay
 * owns the outbox. `pendingOutbox` answers the owner only (PostgreSQL: the instance holding a
 * session advisory lock; every other relay gets `[]` and idles), so each record is published by
 * one instance, not once per instance. When the owner stops or dies, another instance's next
 * poll takes over, and its first read starts at the oldest unpublished record whatever `afterId`
 * says: what the old owner published but had not marked is published again (at least once, as
 * QoS 1 already allows). A store with a single writer (SQLite) has one owner by construction.
 * Record ids are publication order: strictly increasing in commit order, so reading "after id N"
 * never skips a record that committed late.
 */
import type { SampleBlock } from './storage.js';

export type OutboxKind =
  /** An accepted upload: `refId` is the upload id. */
  | 'upload'
  /** A security or data-quality event: `payload` is the event as JSON. */
  | 'event'
  /** A device seen for the first time: `refId` is the device id (discovery, state). */
  | 'device';

export interface OutboxRecord {
  /** Strictly increasing; publishing in id order keeps every device's order. */
  id: number;
  deviceId: string | null;
  kind: OutboxKind;
  refId: string | null;
  payload: string | null;
  createdAt: number;
}

export interface OutboxStats {
  depth: number;
  /** Creation time of the oldest unpublished record, ms since the epoch. */
  oldestCreatedAt: number | null;
}

export interface UploadBlocks {
  uploadId: string;
  deviceId: string;
  receivedAt: number;
  nonce: number | null;
  packets: { index: number; method: string | null; block: SampleBlock }[];
}

export interface Outbox {
  /** The oldest unpublished records, in id order, after `afterId` if given. */
  pendingOutbox(limit: number, afterId?: number): Promise<OutboxRecord[]>;
  /** Marks records published (after the broker acknowledged every message built from them). */
  markPublished(ids: readonly number[]): Promise<void>;
  outboxStats(): Promise<OutboxStats>;
  /** The decoded blocks of one stored upload (duplicates of earlier packets excluded). */
  uploadBlocks(uploadId: string): Promise<UploadBlocks | undefined>;
}
