/**
 * What differs by firmware generation in the upload pipeline: how the authenticated document is
 * read, how its packets are decoded, and what per-device decoder state that needs. Everything else
 * (authentication, replay state, commit, events, MQTT) is shared: a generation is an adapter at
 * the edge (docs/field-devices.md "Two firmware generations").
 */
import type { Generation } from '../model/device.js';
import type { PacketRecord } from '../ports/storage.js';

/** The parts of an upload document the shared pipeline needs. */
export interface UploadHeader {
  deviceId: string;
  /** The device's own timestamp of the upload, as it sent it (e84f720: millis; 1.3: unix s). */
  timestamp: number | null;
}

export interface DecodeClock {
  receivedAt: number;
  /** e84f720 says no sampling interval: the configured device poll interval stands in. */
  pollIntervalMs: number;
}

export interface GenerationDecoder<D extends UploadHeader, S> {
  readonly generation: Generation;
  /** The replay state's high a device starts from (its first nonce is one above). */
  readonly initialHigh: number;
  parse(inner: unknown): { ok: true; doc: D } | { ok: false; message: string };
  /** A fresh state when nothing (or another generation's state) was kept. */
  loadState(stored: string | null): S;
  cloneState(state: S): S;
  saveState(state: S): string;
  /** Decodes every packet in order, following (and so changing) `state`. Never throws on bad bytes. */
  decode(deviceId: string, doc: D, clock: DecodeClock, state: S): PacketRecord[];
}
