/** JSON shapes of the admin API as the dashboard uses them. */

export type Quality = 'exact' | 'approximate' | 'ambiguous' | 'missing';
export type Link = 'online' | 'late' | 'offline' | 'never';

export interface LatestValue {
  register: string;
  reg_id: number;
  time: string;
  raw: number | null;
  value: number | null;
  unit: string | null;
  quality: Quality;
}

export interface FleetRow {
  id: string;
  status: 'active' | 'disabled';
  link: Link;
  interval_ms: number;
  last_seen: string | null;
  last_source: string | null;
  generation: 'e84f720' | '1.3' | null;
  power: LatestValue | null;
  energy_today_wh: number;
  uploads: number;
  readings: number;
  quality: {
    quarantined_packets: number;
    duplicate_packets: number;
    nonce_gaps: number;
    approximate_latest: number;
    ambiguous_latest: number;
  };
  security: { rejects: number; events_24h: number };
}

export interface FleetSummary {
  server_time: string;
  devices: FleetRow[];
}

export interface DeviceKeyView {
  kid: string;
  status: string;
  created_at: string | null;
  last_used_at: string | null;
  retired_at: string | null;
}

export interface DeviceView {
  id: string;
  status: 'active' | 'disabled';
  policy: Record<string, string | number | boolean | null>;
  auto_registered: boolean;
  created_at: string | null;
  first_seen: string | null;
  last_seen: string | null;
  last_nonce: number | null;
  last_source: string | null;
  generation: 'e84f720' | '1.3' | null;
  last_authenticated_source: string | null;
  last_authenticated_at: string | null;
  replay_high: number | null;
  counters: {
    uploads: number;
    readings: number;
    quarantined_packets: number;
    duplicate_packets: number;
    nonce_gaps: number;
    rejects: Record<string, number>;
    unsecured_control?: Record<string, number>;
  };
  keys: DeviceKeyView[];
  uses_fleet_key: boolean;
  /** What it reported at boot (`POST /devices`), if anything. */
  registration?: RegistrationView | null;
}

export interface UploadSummary {
  id: string;
  received_at: string;
  nonce: number | null;
  protocol: string;
  encrypted: boolean;
  key: string | null;
  source: string;
  nonce_gap: number;
  packets: number;
  samples: number;
  duplicates: number;
  methods: Record<string, number>;
  quarantined: { index: number; reason: string | null }[];
}

export interface Series {
  device_id: string;
  from: string;
  to: string;
  bucket_ms: number;
  registers: { reg_id: number; register: string; unit: string | null }[];
  time: number[];
  values: (number | null)[][];
  flags: number[][];
}

export interface ReadingView {
  time: string;
  register: string;
  reg_id: number;
  raw: number | null;
  value: number | null;
  unit: string | null;
  quality: Quality;
  upload: string;
}

export interface SecurityEventView {
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

export interface AuditEntryView {
  id: number;
  time: string;
  actor: string;
  action: string;
  device_id: string | null;
  reason: string | null;
  detail?: Record<string, unknown>;
}

export interface UploadEvent {
  device_id: string;
  upload_id: string;
  nonce: number | null;
  received_at: string;
  registered: boolean;
  packets: number;
  samples: number;
  quarantined: number;
  duplicate_packets: number;
  latest: LatestValue[];
  energy_today_wh: number | null;
  interval_ms: number | null;
}

/** What a device said at boot (`POST /devices`); `verified: false` = sent before it existed. */
export interface RegistrationView {
  device_id: string;
  device_name: string | null;
  firmware_version: string | null;
  location: string | null;
  description: string | null;
  received_at: string;
  source: string;
  verified: boolean;
  from_upload_address?: boolean | null;
}

export type PowerMode = 'high_perf' | 'normal' | 'low_power' | 'sleep';

export interface EnergyReportView {
  id: number;
  received_at: string;
  timestamp: number | null;
  device_time: string | null;
  enabled: boolean;
  techniques: string | null;
  technique_names: string[];
  avg_current_ma: number | null;
  energy_saved_mah: number | null;
  peripheral_savings_mah: number | null;
  uptime_ms: number | null;
  modes_ms: Record<PowerMode, number>;
  modes_percent: Record<PowerMode, number>;
  source: string;
}

export interface FaultReportView {
  id: number;
  received_at: string;
  timestamp: number | null;
  device_time: string | null;
  fault_type: string | null;
  recovery_action: string | null;
  success: boolean;
  details: string | null;
  retry_count: number | null;
  source: string;
}
