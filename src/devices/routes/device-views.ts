/** JSON shapes of the admin API. Key material never appears here. */

import type { Device } from '../../model/device.js';
import { eventJson } from '../../observability/event-json.js';
import type { Reading, StoredSecurityEvent } from '../../ports/storage.js';
import { registerById, scaleRaw } from '../../protocol/registers.js';
import { describePolicy } from '../device-service.js';

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

export function deviceView(d: Device) {
  return {
    id: d.id,
    status: d.status,
    policy: describePolicy(d.policy),
    auto_registered: d.autoRegistered,
    created_at: iso(d.createdAt),
    first_seen: iso(d.firstSeen),
    last_seen: iso(d.lastSeen),
    last_nonce: d.lastNonce,
    last_source: d.lastSource,
    generation: d.generation,
    last_authenticated_source: d.lastAuthSource,
    last_authenticated_at: iso(d.lastAuthAt),
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
      last_used_at: iso(k.lastUsedAt),
      retired_at: iso(k.retiredAt),
    })),
    uses_fleet_key: !d.keys.some((k) => k.status === 'active'),
  };
}

export function readingView(r: Reading) {
  const reg = registerById(r.register);
  return {
    time: new Date(r.time).toISOString(),
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

export function eventView(e: StoredSecurityEvent) {
  return eventJson(e, e.id);
}
