/** The write operations the SQLite writer performs, as messages (they cross a thread boundary). */
import type { Device, DeviceKey, DevicePolicy, DeviceStatus } from '../../model/device.js';
import type { ReplayState } from '../../model/replay.js';
import type {
  AuditEntry,
  CommitOutcome,
  NewDevice,
  NonceOutcome,
  SecurityEvent,
  UploadCommit,
} from '../../ports/storage.js';

export interface WriterOps {
  commitUpload: { args: [UploadCommit]; result: CommitOutcome };
  acceptNonce: { args: [string, number, number]; result: NonceOutcome };
  createDevice: { args: [NewDevice, AuditEntry]; result: Device };
  setDeviceStatus: { args: [string, DeviceStatus, AuditEntry]; result: Device | undefined };
  setDevicePolicy: { args: [string, DevicePolicy, AuditEntry]; result: Device | undefined };
  addDeviceKey: { args: [string, DeviceKey, AuditEntry]; result: Device | undefined };
  retireDeviceKey: { args: [string, string, AuditEntry]; result: Device | undefined };
  resetReplay: { args: [string, ReplayState, AuditEntry]; result: Device | undefined };
  countReject: { args: [string, string]; result: undefined };
  countControl: { args: [string, string]; result: undefined };
  recordSecurityEvent: { args: [SecurityEvent]; result: undefined };
  markPublished: { args: [readonly number[]]; result: undefined };
}

export type WriterOp = keyof WriterOps;

export interface WriterRequest {
  id: number;
  op: WriterOp;
  args: unknown[];
  /** The arguments as JSON instead of `args` (see writer-client.ts). */
  json?: string;
}

export type WriterResponse =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: string };

/** Something that performs writer operations: the writer itself, or a client of its thread. */
export interface WriterPort {
  call<K extends WriterOp>(op: K, ...args: WriterOps[K]['args']): Promise<WriterOps[K]['result']>;
  drain(): Promise<void>;
  close(): Promise<void>;
}
