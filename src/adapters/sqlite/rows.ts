/** Row ↔ model conversion for the SQLite adapter. */
import {
  type Device,
  type DeviceKey,
  type DevicePolicy,
  type KeyStatus,
  parseGeneration,
} from '../../model/device.js';
import { parseReplayMode } from '../../model/replay.js';

export interface DeviceRow {
  id: string;
  status: string;
  allow_unsecured: number;
  allow_unsecured_config: number;
  require_v2: number;
  require_encryption: number;
  replay_mode: string;
  auto_registered: number;
  created_at: number;
  first_seen: number | null;
  last_seen: number | null;
  last_nonce: number | null;
  last_source: string | null;
  generation: string | null;
  auth_source: string | null;
  auth_at: number | null;
  replay_high: number | null;
  replay_seen: string;
  uploads: number;
  readings: number;
  quarantined_packets: number;
  duplicate_packets: number;
  nonce_gaps: number;
  rejects: string;
  control_counts: string;
}

export interface KeyRow {
  device_id: string;
  kid: string;
  kind: string;
  hmac_key: string;
  aes_key: string | null;
  iv: string | null;
  status: string;
  created_at: number;
  last_used_at: number | null;
  retired_at: number | null;
}

export function keyFromRow(r: KeyRow): DeviceKey {
  return {
    kid: r.kid,
    kind: r.kind === 'v2' ? 'v2' : 'v1',
    hmacKey: r.hmac_key,
    aesKey: r.aes_key,
    iv: r.iv,
    status: r.status as KeyStatus,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    retiredAt: r.retired_at,
  };
}

export function policyFromRow(
  r: Pick<
    DeviceRow,
    'allow_unsecured' | 'allow_unsecured_config' | 'require_v2' | 'require_encryption' | 'replay_mode'
  >,
): DevicePolicy {
  return {
    allowUnsecured: r.allow_unsecured === 1,
    allowUnsecuredConfig: r.allow_unsecured_config === 1,
    requireV2: r.require_v2 === 1,
    requireEncryption: r.require_encryption === 1,
    replay: parseReplayMode(r.replay_mode, 'replay_mode'),
  };
}

export function deviceFromRow(r: DeviceRow, keys: KeyRow[]): Device {
  return {
    id: r.id,
    status: r.status === 'disabled' ? 'disabled' : 'active',
    policy: policyFromRow(r),
    autoRegistered: r.auto_registered === 1,
    createdAt: r.created_at,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    lastNonce: r.last_nonce,
    lastSource: r.last_source,
    generation: parseGeneration(r.generation),
    lastAuthSource: r.auth_source,
    lastAuthAt: r.auth_at,
    replay: { high: r.replay_high, seen: BigInt(`0x${r.replay_seen}`) },
    counters: {
      uploads: r.uploads,
      readings: r.readings,
      quarantinedPackets: r.quarantined_packets,
      duplicatePackets: r.duplicate_packets,
      nonceGaps: r.nonce_gaps,
      rejects: JSON.parse(r.rejects) as Record<string, number>,
      unsecuredControl: JSON.parse(r.control_counts) as Record<string, number>,
    },
    keys: keys.map(keyFromRow),
  };
}
