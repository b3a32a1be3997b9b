/**
 * Storage ports. Services and ingest stages depend on these, never on an adapter, and each on the
 * role it needs (uploads, the device registry, security events, reports, the outbox); an adapter
 * implements them all as `Storage` and passes the same contract tests (test/contract).
 */
import type { Device, DeviceKey, DevicePolicy, DeviceStatus, Generation } from '../model/device.js';
import type { PolicyRejection } from '../model/policy.js';
import type { ReplayRejection, ReplayState } from '../model/replay.js';
import type { Quality } from '../protocol/codecs/types.js';
import type { Outbox } from './outbox.js';

/** The decoded values of one packet: `samples` samples of `layout`, sample-major. */
export interface SampleBlock {
  /** Wall-clock time of the first sample, ms since the epoch (derived, §10.5). */
  time: number;
  /** Milliseconds between consecutive samples. */
  step: number;
  samples: number;
  /** RegIDs of one sample. */
  layout: readonly number[];
  values: readonly (number | null)[];
  quality: readonly Quality[];
}

export interface PacketRecord {
  index: number;
  /** The device's `millis()` when it made the packet, if it said. */
  deviceTimestamp: number | null;
  /** The packet's bytes as sent (already cut to their real length), base64. */
  bytes: string;
  /** Hash of device id, device timestamp and bytes: a re-sent packet has the same key. */
  dedupeKey: string;
  method: string | null;
  label: string | null;
  status: 'decoded' | 'quarantined';
  reason: string | null;
  notes: readonly string[];
  /** `null` when quarantined. */
  block: SampleBlock | null;
}

export type UploadProtocol = 'v1' | 'v2' | 'unsecured';

export interface UploadCommit {
  deviceId: string;
  /** Policy to create the device with if it does not exist yet (registered by its first upload). */
  registerWith: DevicePolicy;
  /** `null` for unsecured uploads (no replay state involved). */
  nonce: number | null;
  counterResetThreshold: number;
  initialHigh: number | null;
  keyKid: string | null;
  protocol: UploadProtocol;
  /** Firmware generation the upload was recognised as (recorded on the device). */
  generation: Generation;
  encrypted: boolean;
  receivedAt: number;
  source: string;
  requestId: string;
  deviceTimestamp: number | null;
  packets: readonly PacketRecord[];
  /** The device's decoder state after this upload (mirrored dictionary), kept with the upload. */
  decoderState?: string;
}

export type CommitOutcome =
  | {
      ok: true;
      uploadId: string;
      gap: number;
      /** Indexes of packets already stored from an earlier upload (a re-send after a lost answer). */
      duplicatePackets: number[];
      readingsStored: number;
      samplesStored: number;
      registered: boolean;
      /** A key rotation completed because the device used its new key. */
      retiredKeys: string[];
    }
  | { ok: false; code: 'replayed_nonce'; reason: ReplayRejection; high: number | null }
  | { ok: false; code: 'policy'; reason: PolicyRejection };

export type NonceOutcome =
  | { ok: true; gap: number }
  | { ok: false; reason: ReplayRejection | 'unknown_device'; high: number | null };

export interface SecurityEvent {
  time: number;
  deviceId: string | null;
  code: string;
  reason: string;
  source: string | null;
  nonce: number | null;
  requestId: string | null;
  detail?: Record<string, unknown>;
}

export interface StoredSecurityEvent extends SecurityEvent {
  id: number;
}

export interface AuditEntry {
  time: number;
  actor: string;
  action: string;
  deviceId: string | null;
  reason: string | null;
  detail?: Record<string, unknown>;
}

export interface StoredAuditEntry extends AuditEntry {
  id: number;
}

export interface ReadingQuery {
  from?: number;
  to?: number;
  registers?: readonly number[];
  limit: number;
  cursor?: string;
}

export interface Reading {
  time: number;
  register: number;
  raw: number | null;
  quality: Quality;
  uploadId: string;
  packetIndex: number;
  sampleIndex: number;
}

export interface ReadingPage {
  readings: Reading[];
  next: string | null;
}

export interface StoredPacket extends Omit<PacketRecord, 'block' | 'dedupeKey'> {
  duplicate: boolean;
  sampleCount: number;
}

export interface StoredUpload {
  id: string;
  deviceId: string;
  nonce: number | null;
  protocol: UploadProtocol;
  encrypted: boolean;
  keyKid: string | null;
  receivedAt: number;
  source: string;
  requestId: string;
  deviceTimestamp: number | null;
  gap: number;
  packets: StoredPacket[];
}

export interface NewDevice {
  id: string;
  status: DeviceStatus;
  policy: DevicePolicy;
  keys: DeviceKey[];
  replay: ReplayState;
  createdAt: number;
}

/** The fleet at a glance, whatever its size (see `DeviceRegistry.deviceActivity`). */
export interface DeviceActivity {
  total: number;
  never: number;
  /** Devices whose last accepted upload is at or after `since[i]`. */
  since: number[];
}

export interface EventQuery {
  deviceId?: string;
  code?: string;
  since?: number;
  limit: number;
  before?: number;
}

/** What a generation 1.3 device reports besides its uploads (PROTOCOL-1.3.md §9). */
export type DeviceReportKind = 'registration' | 'energy' | 'fault';

export interface DeviceReport {
  deviceId: string;
  kind: DeviceReportKind;
  /** When the server received it, ms since the epoch. */
  receivedAt: number;
  source: string;
  /**
   * Accepted by the control-request guard (sealed, or bare from the address of the device's
   * authenticated uploads). `false`: a registration for an id no device had (a pending one).
   */
  verified: boolean;
  /** The validated report (a JSON object). */
  body: Record<string, unknown>;
}

export interface StoredDeviceReport extends DeviceReport {
  id: number;
}

/** How many reports are kept: older ones are deleted when a report is recorded. */
export interface ReportRetention {
  /** Newest reports of the same device and kind. */
  perDevice: number;
  /** For an id no device has: newest reports of the same kind over all such ids. */
  unknownDevices: number;
}

/** Uploads: the commit with its replay decision, and the stored uploads and readings. */
export interface UploadStore {
  /** Stores one upload with its replay-state advance in one transaction; settles once durable. */
  commitUpload(upload: UploadCommit): Promise<CommitOutcome>;
  /**
   * Checks and advances a device's replay state for an authenticated request that is not an
   * upload (`/changes`, command polls): the same nonce sequence as its uploads.
   */
  acceptNonce(deviceId: string, nonce: number, counterResetThreshold: number): Promise<NonceOutcome>;
  /** What `commitUpload` last kept as the device's decoder state (adapters without it: none kept). */
  loadDecoderState?(deviceId: string): Promise<string | null>;
  queryReadings(deviceId: string, query: ReadingQuery): Promise<ReadingPage>;
  latestReadings(deviceId: string): Promise<Reading[]>;
  getUpload(id: string): Promise<StoredUpload | undefined>;
  /** A device's uploads, newest first; `before` pages on (an upload id). */
  listUploads(deviceId: string, query: { limit: number; before?: string }): Promise<StoredUpload[]>;
}

/** The devices, their keys and policies; every change is audited in its own transaction. */
export interface DeviceRegistry {
  getDevice(id: string): Promise<Device | undefined>;
  listDevices(): Promise<Device[]>;
  createDevice(device: NewDevice, audit: AuditEntry): Promise<Device>;
  setDeviceStatus(id: string, status: DeviceStatus, audit: AuditEntry): Promise<Device | undefined>;
  setDevicePolicy(id: string, policy: DevicePolicy, audit: AuditEntry): Promise<Device | undefined>;
  addDeviceKey(id: string, key: DeviceKey, audit: AuditEntry): Promise<Device | undefined>;
  retireDeviceKey(id: string, kid: string, audit: AuditEntry): Promise<Device | undefined>;
  resetReplay(id: string, state: ReplayState, audit: AuditEntry): Promise<Device | undefined>;
  /** Counts a refused request against its device (fire and forget). */
  countReject(deviceId: string, code: string): void;
  /** Counts an unsigned control request a device made (by kind: `1.3`, `e84f720`; fire and forget). */
  countControl(deviceId: string, kind: string): void;
  listAudit(query: { deviceId?: string; limit: number }): Promise<StoredAuditEntry[]>;
  /** How many devices there are, never uploaded, and uploaded at or after each of `since` (ms). */
  deviceActivity(since: readonly number[]): Promise<DeviceActivity>;
}

export interface SecurityEventStore {
  /** Stores the event (with its outbox record, when something publishes); fire and forget. */
  recordSecurityEvent(event: SecurityEvent): void;
  listSecurityEvents(query: EventQuery): Promise<StoredSecurityEvent[]>;
}

/** What generation 1.3 devices report besides their uploads. */
export interface ReportStore {
  /** Stores a device report and deletes the ones `retention` no longer keeps. */
  recordReport(report: DeviceReport, retention: ReportRetention): Promise<StoredDeviceReport>;
  /** Reports of one device (known or not) and kind, newest first. */
  listReports(deviceId: string, kind: DeviceReportKind, limit: number): Promise<StoredDeviceReport[]>;
  /** Reports of one kind for ids no device has (pending registrations), newest first. */
  listUnknownDeviceReports(kind: DeviceReportKind, limit: number): Promise<StoredDeviceReport[]>;
}

/** Every role on one database: what an adapter implements and the server opens. */
export interface Storage extends UploadStore, DeviceRegistry, SecurityEventStore, ReportStore, Outbox {
  /** Cheap liveness probe of the database. */
  ping(): Promise<void>;
  /** Waits for queued writes, then closes. */
  close(): Promise<void>;
}
