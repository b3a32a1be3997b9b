/** JSON shapes of the admin API (their schemas: *-schemas.ts here). Key material never appears here. */

import type { Static } from 'typebox';
import type { Device } from '../../model/device.js';
import { eventJson } from '../../observability/event-json.js';
import type { Reading, StoredAuditEntry, StoredSecurityEvent, StoredUpload } from '../../ports/storage.js';
import { registerById, scaleRaw } from '../../protocol/registers.js';
import { describePolicy } from '../device-service.js';
import type { DeviceView, PolicyView } from './device-schemas.js';
import type { AlertView, AuditEntryView, SecurityEventView } from './event-schemas.js';
import type { ReadingView, UploadView } from './reading-schemas.js';

const iso = (t: number) => new Date(t).toISOString();
const isoOrNull = (t: number | null) => (t === null ? null : iso(t));

export function deviceView(d: Device): Static<typeof DeviceView> {
  return {
    id: d.id,
    status: d.status,
    // describePolicy is loosely typed for the audit log's free-form detail; it writes these fields.
    policy: describePolicy(d.policy) as Static<typeof PolicyView>,
    auto_registered: d.autoRegistered,
    created_at: iso(d.createdAt),
    first_seen: isoOrNull(d.firstSeen),
    last_seen: isoOrNull(d.lastSeen),
    last_nonce: d.lastNonce,
    last_source: d.lastSource,
    generation: d.generation,
    last_authenticated_source: d.lastAuthSource,
    last_authenticated_at: isoOrNull(d.lastAuthAt),
    replay_high: d.replay.high,
    counters: {
      uploads: d.counters.uploads,
      readings: d.counters.readings,
      quarantined_packets: d.counters.quarantinedPackets,
      duplicate_packets: d.counters.duplicatePackets,
      nonce_gaps: d.counters.nonceGaps,
      rejects: d.counters.rejects,
      unsecured_control: d.counters.unsecuredControl,
    },
    keys: d.keys.map((k) => ({
      kid: k.kid,
      status: k.status,
      created_at: iso(k.createdAt),
      last_used_at: isoOrNull(k.lastUsedAt),
      retired_at: isoOrNull(k.retiredAt),
    })),
    uses_fleet_key: !d.keys.some((k) => k.status === 'active'),
  };
}

export function readingView(r: Reading): Static<typeof ReadingView> {
  const reg = registerById(r.register);
  return {
    time: iso(r.time),
    register: reg?.name ?? `reg${r.register}`,
    reg_id: r.register,
    raw: r.raw,
    value: reg && r.raw !== null ? scaleRaw(reg, r.raw) : null,
    unit: reg?.unit ?? null,
    quality: r.quality,
    upload: r.uploadId,
    packet: r.packetIndex,
    sample: r.sampleIndex,
  };
}

export function eventView(e: StoredSecurityEvent): Static<typeof SecurityEventView> {
  // A stored event always has its id (event-json.ts leaves it out of one not stored yet).
  return { ...eventJson(e, e.id), id: e.id };
}

export function alertView(e: StoredSecurityEvent): Static<typeof AlertView> {
  return {
    id: e.id,
    time: iso(e.time),
    rule: e.reason,
    device_id: e.deviceId,
    ...(e.detail ? { message: e.detail.message, detail: e.detail } : {}),
  };
}

export function auditEntryView(e: StoredAuditEntry): Static<typeof AuditEntryView> {
  return {
    id: e.id,
    time: iso(e.time),
    actor: e.actor,
    action: e.action,
    device_id: e.deviceId,
    reason: e.reason,
    ...(e.detail ? { detail: e.detail } : {}),
  };
}

export function uploadView(u: StoredUpload): Static<typeof UploadView> {
  return {
    id: u.id,
    device_id: u.deviceId,
    nonce: u.nonce,
    protocol: u.protocol,
    encrypted: u.encrypted,
    key: u.keyKid,
    received_at: iso(u.receivedAt),
    source: u.source,
    request_id: u.requestId,
    device_timestamp: u.deviceTimestamp,
    nonce_gap: Math.max(0, u.gap),
    packets: u.packets.map((p) => ({
      index: p.index,
      status: p.duplicate ? 'duplicate' : p.status,
      method: p.method,
      label: p.label,
      device_timestamp: p.deviceTimestamp,
      samples: p.sampleCount,
      bytes: p.bytes,
      ...(p.reason ? { reason: p.reason } : {}),
      notes: [...p.notes],
    })),
    quarantined: u.packets
      .filter((p) => p.status === 'quarantined')
      .map((p) => ({ index: p.index, reason: p.reason })),
  };
}
