/**
 * Storage of the firmware capability: the catalogue, rollouts, update sessions, device groups
 * and the versions devices report. Session changes are atomic read-modify-writes, so concurrent
 * chunk requests and reports of one device never lose an update.
 */
import type {
  FirmwareImage,
  Generation,
  NewRollout,
  OtaSession,
  Rollout,
  RolloutCounts,
  SessionClient,
  SessionOutcome,
} from '../model/firmware.js';
import type { AuditEntry } from './storage.js';

export interface OpenSessionInput {
  deviceId: string;
  rolloutId: number;
  fromVersion: string | null;
  client: SessionClient;
  now: number;
}

export type RolloutAction = 'pause' | 'resume' | 'abort';

export type RolloutChange =
  | { ok: true; rollout: Rollout }
  | { ok: false; reason: 'not_found' | 'invalid_state'; rollout?: Rollout };

export interface SessionUpdate {
  session: OtaSession;
  /** The rollout after its halt / step rules ran on the change. */
  rollout: Rollout;
}

export interface FirmwareStore {
  /** Every generation's images. */
  listImages(): Promise<FirmwareImage[]>;
  getImage(version: string, generation: Generation): Promise<FirmwareImage | undefined>;
  /**
   * `undefined` if the version exists already for the image's generation. One version may have
   * one image per generation; rollouts name the version.
   */
  insertImage(image: FirmwareImage, audit: AuditEntry): Promise<FirmwareImage | undefined>;

  listRollouts(): Promise<Rollout[]>;
  getRollout(id: number): Promise<Rollout | undefined>;
  createRollout(rollout: NewRollout, audit: AuditEntry): Promise<Rollout>;
  changeRollout(id: number, action: RolloutAction, audit: AuditEntry): Promise<RolloutChange>;
  /** Applies the halt and step rules now (they also run on every session change). */
  evaluateRollout(id: number, now: number): Promise<Rollout | undefined>;
  counts(rolloutId: number, now: number): Promise<RolloutCounts>;

  listSessions(query: { rolloutId?: number; deviceId?: string; limit: number }): Promise<OtaSession[]>;
  getSession(deviceId: string, rolloutId: number): Promise<OtaSession | undefined>;
  /** Rollouts in which the device has a session. */
  sessionRolloutsOf(deviceId: string): Promise<Set<number>>;
  /**
   * Creates the device's session in the rollout, or returns the one it has. The session downloads
   * the image of its client's generation (`clientGeneration`), which must exist.
   */
  openSession(input: OpenSessionInput): Promise<OtaSession>;
  recordChunk(sessionId: number, chunk: number, now: number): Promise<OtaSession>;
  /**
   * Applies a report. An outcome marked `unauthenticated` is stored as such and never counts
   * toward the failure threshold; it never replaces an outcome an authenticated request reported.
   */
  recordOutcome(sessionId: number, outcome: SessionOutcome, now: number): Promise<SessionUpdate>;

  reportVersion(deviceId: string, version: string, now: number): Promise<void>;
  reportedVersion(deviceId: string): Promise<{ version: string; reportedAt: number } | undefined>;

  groupsOf(deviceId: string): Promise<Set<string>>;
  listGroups(): Promise<Map<string, string[]>>;
  /** Replaces a group's members; an empty list deletes the group. */
  setGroup(name: string, devices: readonly string[], audit: AuditEntry): Promise<string[]>;
}
