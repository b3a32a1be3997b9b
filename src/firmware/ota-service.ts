/**
 * What a device asking for firmware gets (PROTOCOL.md §10.9): the rollout that decides for it,
 * a semantic-version comparison (no downgrade unless pinned), a persisted session it can resume,
 * chunks read from disk and MACed as the field firmware checks them, and outcomes that feed the
 * rollout's failure threshold. Both protocol generations use the same sessions.
 */
import type { FastifyBaseLogger as Logger } from 'fastify';
import { ApiError } from '../errors.js';
import type { FirmwareStore } from '../ports/firmware-store.js';
import { chunkMac } from '../protocol/firmware/chunk-mac.js';
import type { FirmwareCatalogue } from './firmware-catalogue.js';
import {
  type FirmwareImage,
  OPEN_SESSION_STATES,
  type OtaSession,
  type Rollout,
  type SessionClient,
  type SessionOutcome,
} from './model.js';
import { decide, decidingRollout, nextStepDue } from './rollout-rules.js';

export type CheckResult =
  | { kind: 'offer'; image: FirmwareImage; rollout: Rollout; session: OtaSession | undefined }
  | { kind: 'none'; reason: string };

export interface ServedChunk {
  image: FirmwareImage;
  data: Buffer;
  mac: string;
  session: OtaSession;
}

const isOpen = (s: OtaSession) => OPEN_SESSION_STATES.includes(s.state);

export class OtaService {
  private readonly haltListeners: ((rollout: Rollout) => void)[] = [];

  constructor(
    private readonly store: FirmwareStore,
    private readonly catalogue: FirmwareCatalogue,
    private readonly log?: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Called when a rollout stops itself at its failure threshold (alerts). */
  onRolloutHalted(listener: (rollout: Rollout) => void): void {
    this.haltListeners.push(listener);
  }

  /** Takes the percentage steps that are due, so the cohort a device is judged by is current. */
  private async stepRollouts(rollouts: Rollout[], now: number): Promise<Rollout[]> {
    let changed = false;
    for (const r of rollouts) {
      if (r.state !== 'active' || r.target.kind !== 'percentage') continue;
      if (r.stepIndex >= r.target.steps.length - 1 || now - r.stepStartedAt < r.target.stepWaitMs) continue;
      if (!nextStepDue(r, await this.store.counts(r.id, now), now)) continue;
      const next = await this.store.evaluateRollout(r.id, now);
      if (next && next.stepIndex !== r.stepIndex) {
        changed = true;
        this.log?.info({ event: 'rollout_step', rollout: r.id, step: next.stepIndex }, 'rollout grew');
      }
    }
    return changed ? this.store.listRollouts() : rollouts;
  }

  /**
   * The decision for a device running `current`. `openSession` (the field check, HEAD's initiate)
   * creates the session the chunk requests then use; HEAD's check only looks.
   */
  async check(
    deviceId: string,
    current: string,
    client: SessionClient,
    opts: { openSession: boolean },
  ): Promise<CheckResult> {
    const now = this.now();
    if ((await this.store.reportedVersion(deviceId))?.version !== current) {
      await this.store.reportVersion(deviceId, current, now);
    }
    const rollouts = await this.stepRollouts(await this.store.listRollouts(), now);
    const r = decidingRollout(
      rollouts,
      deviceId,
      await this.store.groupsOf(deviceId),
      await this.store.sessionRolloutsOf(deviceId),
    );
    if (!r) return { kind: 'none', reason: 'no rollout covers this device' };
    let session = await this.store.getSession(deviceId, r.id);
    const d = decide(r, current, session);
    if (d.kind === 'settle' && session) {
      await this.settle(session, { kind: d.outcome, detail: d.detail }, now);
      return { kind: 'none', reason: d.reason };
    }
    if (d.kind !== 'offer') return { kind: 'none', reason: d.kind === 'none' ? d.reason : 'no update' };
    const image = await this.store.getImage(r.version);
    if (!image || !this.catalogue.servable(image)) {
      return { kind: 'none', reason: `firmware ${r.version} cannot be served under the current keys` };
    }
    if (opts.openSession && !session) {
      session = await this.store.openSession({
        deviceId,
        rolloutId: r.id,
        fromVersion: current,
        client,
        now,
      });
      this.log?.info(
        { event: 'ota_session', device: deviceId, rollout: r.id, version: r.version, from: current },
        'update session opened',
      );
    }
    return { kind: 'offer', image, rollout: r, session };
  }

  /** HEAD firmware's `initiate`: only the version it was offered, in a session it can resume. */
  async initiate(deviceId: string, version: string, current: string | undefined): Promise<OtaSession> {
    const open = await this.openSessionFor(deviceId, version);
    if (open) return open;
    const from = current ?? (await this.store.reportedVersion(deviceId))?.version;
    if (from === undefined) {
      throw new ApiError('no_update_session', 'Check for an update (GET /ota/check/<id>?version=…) first.');
    }
    const result = await this.check(deviceId, from, 'later', { openSession: true });
    if (result.kind !== 'offer' || result.image.version !== version || !result.session) {
      throw new ApiError(
        'no_update_session',
        result.kind === 'offer'
          ? `This device is offered ${result.image.version}, not ${version}.`
          : `No update to ${version} for this device: ${result.reason}.`,
      );
    }
    return result.session;
  }

  private async openSessionFor(deviceId: string, version: string): Promise<OtaSession | undefined> {
    const sessions = await this.store.listSessions({ deviceId, limit: 50 });
    return sessions.find((s) => s.version === version && isOpen(s));
  }

  async chunk(deviceId: string, version: string, n: number): Promise<ServedChunk> {
    const session = await this.openSessionFor(deviceId, version);
    if (!session) {
      throw new ApiError(
        'no_update_session',
        `No open update session of ${deviceId} for ${version}: check first.`,
      );
    }
    const image = await this.store.getImage(version);
    const keys = this.catalogue.keys;
    if (!image || !keys || !this.catalogue.servable(image)) {
      throw new ApiError('no_update_session', `Firmware ${version} cannot be served under the current keys.`);
    }
    if (!Number.isSafeInteger(n) || n < 0 || n >= image.totalChunks) {
      throw new ApiError('not_found', `No chunk ${n} of ${version} (0 to ${image.totalChunks - 1}).`);
    }
    const data = await this.catalogue.readChunk(image, n);
    const mac = chunkMac(keys.chunkKey, data, n);
    // Progress is durable before the device sees the chunk: after a restart it resumes from here.
    const updated = await this.store.recordChunk(session.id, n, this.now());
    return { image, data, mac, session: updated };
  }

  /** A device's own report; `undefined` when it has no session to report on. */
  async report(
    deviceId: string,
    version: string | undefined,
    outcome: SessionOutcome,
  ): Promise<OtaSession | undefined> {
    const sessions = (await this.store.listSessions({ deviceId, limit: 50 })).filter(
      (s) => version === undefined || s.version === version,
    );
    const session = sessions.find(isOpen) ?? sessions[0];
    if (!session) return undefined;
    return this.settle(session, outcome, this.now());
  }

  private async settle(session: OtaSession, outcome: SessionOutcome, now: number): Promise<OtaSession> {
    const before = await this.store.getRollout(session.rolloutId);
    const { session: after, rollout } = await this.store.recordOutcome(session.id, outcome, now);
    if (outcome.kind === 'succeeded') await this.store.reportVersion(session.deviceId, session.version, now);
    if (after.state !== session.state) {
      this.log?.info(
        {
          event: 'ota_outcome',
          device: session.deviceId,
          rollout: rollout.id,
          state: after.state,
          detail: after.outcome,
        },
        'update session changed',
      );
    }
    if (before?.state === 'active' && rollout.state === 'halted') {
      this.log?.warn(
        { event: 'rollout_halted', rollout: rollout.id, reason: rollout.stateReason },
        'rollout halted',
      );
      for (const listener of this.haltListeners) listener(rollout);
    }
    return after;
  }

  /** Sessions for the admin status view, newest first. */
  async sessions(limit: number): Promise<OtaSession[]> {
    return this.store.listSessions({ limit });
  }
}
