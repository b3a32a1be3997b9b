import type { OutboxRecord } from '../../ports/outbox.js';
import type {
  CommitOutcome,
  NonceOutcome,
  SecurityEvent,
  Storage,
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

  readonly loadDecoderState: Storage['loadDecoderState'] = (...a) =>
    this.roles.registry.loadDecoderState(...a);

  readonly queryReadings: Storage['queryReadings'] = (...a) => this.roles.uploads.queryReadings(...a);

  readonly latestReadings: Storage['latestReadings'] = (...a) => this.roles.uploads.latestReadings(...a);

  readonly getUpload: Storage['getUpload'] = (...a) => this.roles.uploads.getUpload(...a);

  readonly listUploads: Storage['listUploads'] = (...a) => this.roles.uploads.listUploads(...a);

  readonly getDevice: Storage['getDevice'] = (...a) => this.roles.registry.getDevice(...a);

  readonly listDevices: Storage['listDevices'] = (...a) => this.roles.registry.listDevices(...a);

  readonly deviceActivity: Storage['deviceActivity'] = (...a) => this.roles.registry.deviceActivity(...a);

  readonly createDevice: Storage['createDevice'] = (...a) => this.roles.registry.createDevice(...a);

  readonly setDeviceStatus: Storage['setDeviceStatus'] = (...a) => this.roles.registry.setDeviceStatus(...a);

  readonly setDevicePolicy: Storage['setDevicePolicy'] = (...a) => this.roles.registry.setDevicePolicy(...a);

  readonly addDeviceKey: Storage['addDeviceKey'] = (...a) => this.roles.registry.addDeviceKey(...a);

  readonly retireDeviceKey: Storage['retireDeviceKey'] = (...a) => this.roles.registry.retireDeviceKey(...a);

  readonly resetReplay: Storage['resetReplay'] = (...a) => this.roles.registry.resetReplay(...a);

  countReject(deviceId: string, code: string): void {
    this.roles.registry.countReject(deviceId, code);
  }

  countControl(deviceId: string, kind: string): void {
    this.roles.registry.countControl(deviceId, kind);
  }

  readonly listAudit: Storage['listAudit'] = (...a) => this.roles.registry.listAudit(...a);

  recordSecurityEvent(event: SecurityEvent): void {
    this.roles.events.recordSecurityEvent(event);
  }

  readonly listSecurityEvents: Storage['listSecurityEvents'] = (...a) =>
    this.roles.events.listSecurityEvents(...a);

  readonly recordReport: Storage['recordReport'] = (...a) => this.roles.reports.recordReport(...a);

  readonly listReports: Storage['listReports'] = (...a) => this.roles.reports.listReports(...a);

  readonly listUnknownDeviceReports: Storage['listUnknownDeviceReports'] = (...a) =>
    this.roles.reports.listUnknownDeviceReports(...a);

  pendingOutbox(limit: number, afterId?: number): Promise<OutboxRecord[]> {
    return this.roles.outbox.pendingOutbox(limit, afterId);
  }

  readonly markPublished: Storage['markPublished'] = (...a) => this.roles.outbox.markPublished(...a);

  readonly outboxStats: Storage['outboxStats'] = (...a) => this.roles.outbox.outboxStats(...a);

  readonly uploadBlocks: Storage['uploadBlocks'] = (...a) => this.roles.outbox.uploadBlocks(...a);
}
