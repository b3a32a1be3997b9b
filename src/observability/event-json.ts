/**
 * The one JSON shape of a security event, wherever it leaves the server: the admin API, the
 * dashboard's live stream, and the MQTT events topic (through the outbox). Pure.
 */
import type { SecurityEvent } from '../ports/storage.js';

export interface SecurityEventJson {
  id?: number;
  time: string;
  device_id: string | null;
  code: string;
  reason: string;
  source: string | null;
  nonce: number | null;
  request_id: string | null;
  detail?: Record<string, unknown>;
}

/** `id` is the stored event's, when it has been stored. */
export function eventJson(e: SecurityEvent, id?: number): SecurityEventJson {
  return {
    ...(id !== undefined ? { id } : {}),
    time: new Date(e.time).toISOString(),
    device_id: e.deviceId,
    code: e.code,
    reason: e.reason,
    source: e.source,
    nonce: e.nonce,
    request_id: e.requestId,
    ...(e.detail ? { detail: e.detail } : {}),
  };
}
