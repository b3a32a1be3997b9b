/** JSON shapes of the configuration admin API (their schemas: config-schemas.ts). */

import type { Static } from 'typebox';
import type { ConfigVersion, ScopeConfig } from '../../ports/config-store.js';
import type { DeviceConfigStatus } from '../config-service.js';
import type { KeyStatus, Running } from '../config-state.js';
import type { ConfigVersionView, DeviceConfigView, FleetConfigView } from './config-schemas.js';

const iso = (t: number | null | undefined) =>
  t === null || t === undefined ? null : new Date(t).toISOString();

function runningView(r: Running | undefined) {
  if (!r) return null;
  return {
    value: r.value,
    basis: r.basis,
    ...(r.measuredMs !== undefined ? { measured_ms: r.measuredMs } : {}),
    ...(r.observedAt !== undefined ? { observed_at: iso(r.observedAt) } : {}),
  };
}

function keyView(k: KeyStatus) {
  return {
    desired: k.desired,
    source: k.source,
    version: k.version,
    state: k.state,
    running: k.running?.value ?? null,
    delivered_at: iso(k.delivery?.firstAt),
    last_offered_at: iso(k.delivery?.lastAt),
    offers: k.delivery?.offers ?? 0,
    offered_next: k.offer,
    ...(k.note ? { note: k.note } : {}),
  };
}

export function deviceConfigView(s: DeviceConfigStatus): Static<typeof DeviceConfigView> {
  return {
    device_id: s.deviceId,
    generation: s.generation,
    firmware: s.firmware,
    version: s.version,
    state: s.state,
    desired: s.desired,
    fleet: s.fleet,
    overrides: s.overrides,
    running: Object.fromEntries(Object.entries(s.running).map(([k, r]) => [k, runningView(r)])),
    keys: Object.fromEntries(s.keys.map((k) => [k.key, keyView(k)])),
    // Exactly what the device's configuration channel answers now (`/changes`, or `GET /config/<id>`).
    next_answer: s.nextAnswer,
  };
}

export function fleetConfigView(f: ScopeConfig): Static<typeof FleetConfigView> {
  return { version: f.version, config: f.values, updated_at: iso(f.updatedAt) };
}

export function versionView(v: ConfigVersion): Static<typeof ConfigVersionView> {
  return {
    version: v.version,
    scope: v.scope === null ? 'fleet' : 'device',
    ...(v.scope !== null ? { device_id: v.scope } : {}),
    changes: v.changes,
    result: v.result,
    actor: v.actor,
    reason: v.reason,
    source: v.source,
    time: iso(v.time),
  };
}
