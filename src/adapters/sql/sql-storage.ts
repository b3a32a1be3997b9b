/**
 * What the SQLite and PostgreSQL storages share: every role written once (src/adapters/sql),
 * assembled into the `Storage` aggregate. An adapter adds what stays its own: the upload commit
 * and the replay decision (tuned per database for throughput), and opening and closing.
 */
import type { Device, DeviceKey, DevicePolicy, DeviceStatus } from '../../model/device.js';
import type { ReplayState } from '../../model/replay.js';
import type { OutboxRecord, OutboxStats, UploadBlocks } from '../../ports/outbox.js';
import type {
  AuditEntry,
  CommitOutcome,
  DeviceReport,
  DeviceReportKind,
  EventQuery,
  NewDevice,
  NonceOutcome,
  Reading,
  ReadingPage,
  ReadingQuery,
  ReportRetention,
  SecurityEvent,
  Storage,
  StoredAuditEntry,
  StoredDeviceReport,
  StoredSecurityEvent,
  StoredUpload,
  UploadCommit,
} from '../../ports/storage.js';
import type { SqlDeviceRegistry } from './device-registry.js';
import type { SqlSecurityEventStore } from './event-store.js';
import type { SqlOutbox } from './outbox-store.js';
import type { SqlReportStore } from './report-store.js';
import type { UploadReads } from './upload-reads.js';

export interface StorageRoles {
  uploads: UploadReads;
  registry: SqlDeviceRegistry;
  events: SqlSecurityEventStore;
  reports: SqlReportStore;
  outbox: SqlOutbox;
}

export abstract class SqlStorage implements Storage {
  /** Set by the adapter's constructor, over its connection and its writes. */
  protected abstract readonly roles: StorageRoles;

  abstract commitUpload(upload: UploadCommit): Promise<CommitOutcome>;
  abstract acceptNonce(deviceId: string, nonce: number, counterResetThreshold: number): Promise<NonceOutcome>;
  abstract ping(): Promise<void>;
  abstract close(): Promise<void>;

  loadDecoderState(deviceId: string): Promise<string | null> {
    return this.roles.registry.loadDecoderState(deviceId);
  }

  queryReadings(deviceId: string, q: ReadingQuery): Promise<ReadingPage> {
    return this.roles.uploads.queryReadings(deviceId, q);
  }

  latestReadings(deviceId: string): Promise<Reading[]> {
    return this.roles.uploads.latestReadings(deviceId);
  }

  getUpload(id: string): Promise<StoredUpload | undefined> {
    return this.roles.uploads.getUpload(id);
  }

  listUploads(deviceId: string, q: { limit: number; before?: string }): Promise<StoredUpload[]> {
    return this.roles.uploads.listUploads(deviceId, q);
  }

  getDevice(id: string): Promise<Device | undefined> {
    return this.roles.registry.getDevice(id);
  }

  listDevices(): Promise<Device[]> {
    return this.roles.registry.listDevices();
  }

  createDevice(device: NewDevice, audit: AuditEntry): Promise<Device> {
    return this.roles.registry.createDevice(device, audit);
  }

  setDeviceStatus(id: string, status: DeviceStatus, audit: AuditEntry): Promise<Device | undefined> {
    return this.roles.registry.setDeviceStatus(id, status, audit);
  }

  setDevicePolicy(id: string, policy: DevicePolicy, audit: AuditEntry): Promise<Device | undefined> {
    return this.roles.registry.setDevicePolicy(id, policy, audit);
  }

  addDeviceKey(id: string, key: DeviceKey, audit: AuditEntry): Promise<Device | undefined> {
    return this.roles.registry.addDeviceKey(id, key, audit);
  }

  retireDeviceKey(id: string, kid: string, audit: AuditEntry): Promise<Device | undefined> {
    return this.roles.registry.retireDeviceKey(id, kid, audit);
  }

  resetReplay(id: string, state: ReplayState, audit: AuditEntry): Promise<Device | undefined> {
    return this.roles.registry.resetReplay(id, state, audit);
  }

  countReject(deviceId: string, code: string): void {
    this.roles.registry.countReject(deviceId, code);
  }

  countControl(deviceId: string, kind: string): void {
    this.roles.registry.countControl(deviceId, kind);
  }

  listAudit(q: { deviceId?: string; limit: number }): Promise<StoredAuditEntry[]> {
    return this.roles.registry.listAudit(q);
  }

  recordSecurityEvent(event: SecurityEvent): void {
    this.roles.events.recordSecurityEvent(event);
  }

  listSecurityEvents(q: EventQuery): Promise<StoredSecurityEvent[]> {
    return this.roles.events.listSecurityEvents(q);
  }

  recordReport(report: DeviceReport, retention: ReportRetention): Promise<StoredDeviceReport> {
    return this.roles.reports.recordReport(report, retention);
  }

  listReports(deviceId: string, kind: DeviceReportKind, limit: number): Promise<StoredDeviceReport[]> {
    return this.roles.reports.listReports(deviceId, kind, limit);
  }

  listUnknownDeviceReports(kind: DeviceReportKind, limit: number): Promise<StoredDeviceReport[]> {
    return this.roles.reports.listUnknownDeviceReports(kind, limit);
  }

  pendingOutbox(limit: number, afterId?: number): Promise<OutboxRecord[]> {
    return this.roles.outbox.pendingOutbox(limit, afterId);
  }

  markPublished(ids: readonly number[]): Promise<void> {
    return this.roles.outbox.markPublished(ids);
  }

  outboxStats(): Promise<OutboxStats> {
    return this.roles.outbox.outboxStats();
  }

  uploadBlocks(uploadId: string): Promise<UploadBlocks | undefined> {
    return this.roles.outbox.uploadBlocks(uploadId);
  }
}
