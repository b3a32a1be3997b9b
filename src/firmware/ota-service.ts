/**
 * What a device asking for firmware gets (PROTOCOL.md §10.9): the rollout that decides for it,
 * a semantic-version comparison (no downgrade unless pinned), a persisted session it can resume,
 * chunks read from disk (MACed as the e84f720 firmware checks them; 1.3 checks no MAC), and
 * outcomes that feed the rollout's failure threshold. Both protocol generations use the same
 * sessions and rollouts; each device is served the image of its own generation, which the
 * protocol it speaks tells (`client`). Outcomes from bare requests are marked and never count
 * toward a halt.
 */
import type { FastifyBaseLogger as Logger } from 'fastify';
import { ApiError } from '../model/errors.js';
import {
  clientGeneration,
  type FirmwareImage,
  OPEN_SESSION_STATES,
  type OtaSession,
  type Rollout,
  type SessionClient,
  type SessionOutcome,
} from '../model/firmware.js';
import type { FirmwareStore } from '../ports/firmware-store.js';
import { chunkMac } from '../protocol/firmware/chunk-mac.js';
import type { FirmwareCatalogue } from './firmware-catalogue.js';
import { bootOutcome, decide, decidingRollout, nextStepDue } from './rollout-rules.js';

export type CheckResult =
  | { kind: 'offer'; image: FirmwareImage; rollout: Rollout; session: OtaSession | undefined }
  | { kind: 'none'; reason: string };

export interface ServedChunk {
  image: FirmwareImage;
  data: Buffer;
  /** The chunk HMAC (e84f720); `null` for a generation that checks none (1.3). */
  mac: string | null;
  session: OtaSession;
}

/** Who reported: a bare request's claims are stored as unauthenticated. */
export interface Reporter {
  authenticated: boolean;
}

const AUTHENTICATED: Reporter = { authenticated: true };

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
   * The decision for a device running `current`. `openSession` (the field check, 1.3's initiate)
   * creates the session the chunk requests then use; 1.3's check only looks. `authenticated`:
   * whether the request was (a session it settles is marked so).
   */
  async check(
    deviceId: string,
    current: string,
    client: SessionClient,
    opts: { openSession: boolean; authenticated?: boolean },
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
      const unauthenticated = opts.authenticated === false;
      await this.settle(session, { kind: d.outcome, detail: d.detail, unauthenticated }, now);
      return { kind: 'none', reason: d.reason };
    }
    if (d.kind !== 'offer') return { kind: 'none', reason: d.kind === 'none' ? d.reason : 'no update' };
    const generation = clientGeneration(session?.client ?? client);
    if (session && session.client !== client) {
      return {
        kind: 'none',
        reason: `this device's update session in rollout ${r.id} is for generation ${generation}`,
      };
    }
    const image = await this.store.getImage(r.version, generation);
    if (!image) {
      // Skipped, not failed: the rollout has nothing for this device's generation.
      return {
        kind: 'none',
        reason: `rollout ${r.id} offers ${r.version}, which has no image for firmware generation ${generation}`,
      };
    }
    if (!this.catalogue.servable(image)) {
      return {
        kind: 'none',
        reason: `firmware ${r.version} (${generation}) cannot be served under the current keys`,
      };
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
        {
          event: 'ota_session',
          device: deviceId,
          rollout: r.id,
          version: r.version,
          generation,
          from: current,
        },
        'update session opened',
      );
    }
    return { kind: 'offer', image, rollout: r, session };
  }

  /**
   * 1.3 firmware's `initiate` (it names only the version; the version it runs is the one its check
   * reported): only the version it was offered, in a session it can resume.
   */
  async initiate(
    deviceId: string,
    version: string,
    current: string | undefined,
    reporter: Reporter = AUTHENTICATED,
  ): Promise<OtaSession> {
    const open = await this.openSessionFor(deviceId, version, 'later');
    if (open) return open;
    const from = current ?? (await this.store.reportedVersion(deviceId))?.version;
    if (from === undefined) {
      throw new ApiError('no_update_session', 'Check for an update (GET /ota/check/<id>?version=…) first.');
    }
    const result = await this.check(deviceId, from, 'later', {
      openSession: true,
      authenticated: reporter.authenticated,
    });
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

  private async openSessionFor(
    deviceId: string,
    version: string,
    client?: SessionClient,
  ): Promise<OtaSession | undefined> {
    const sessions = await this.store.listSessions({ deviceId, limit: 50 });
    return sessions.find(
      (s) => s.version === version && isOpen(s) && (client === undefined || s.client === client),
    );
  }

  /** A chunk of the session's image; `client` is the protocol asking (its generation's image). */
  async chunk(
    deviceId: string,
    version: string,
    n: number,
    client: SessionClient = 'field',
  ): Promise<ServedChunk> {
    const session = await this.openSessionFor(deviceId, version, client);
    if (!session) {
      throw new ApiError(
        'no_update_session',
        `No open update session of ${deviceId} for ${version}: check first.`,
      );
    }
    const generation = clientGeneration(session.client);
    const image = await this.store.getImage(version, generation);
    const keys = this.catalogue.keysFor(generation);
    if (!image || !keys || !this.catalogue.servable(image)) {
      throw new ApiError(
        'no_update_session',
        `Firmware ${version} (${generation}) cannot be served under the current keys.`,
      );
    }
    if (!Number.isSafeInteger(n) || n < 0 || n >= image.totalChunks) {
      throw new ApiError('not_found', `No chunk ${n} of ${version} (0 to ${image.totalChunks - 1}).`);
    }
    const data = await this.catalogue.readChunk(image, n);
    const mac = keys.chunkKey ? chunkMac(keys.chunkKey, data, n) : null;
    // Progress is durable before the device sees the chunk: after a restart it resumes from here.
    const updated = await this.store.recordChunk(session.id, n, this.now());
    return { image, data, mac, session: updated };
  }

  /** A device's own report; `undefined` when it has no session to report on. */
  async report(
    deviceId: string,
    version: string | undefined,
    outcome: SessionOutcome,
    reporter: Reporter = AUTHENTICATED,
  ): Promise<OtaSession | undefined> {
    const sessions = (await this.store.listSessions({ deviceId, limit: 50 })).filter(
      (s) => version === undefined || s.version === version,
    );
    const session = sessions.find(isOpen) ?? sessions[0];
    if (!session) return undefined;
    return this.settle(session, this.marked(outcome, reporter), this.now());
  }

  /**
   * The 1.3 firmware's report after every boot: the version it runs and its image state (see
   * `bootOutcome`). Settles the device's open 1.3 session when it means something; records the
   * version it runs either way. `undefined` when there was nothing to settle.
   */
  async bootReport(
    deviceId: string,
    running: string,
    status: string,
    detail: string,
    reporter: Reporter = AUTHENTICATED,
  ): Promise<OtaSession | undefined> {
    const now = this.now();
    if ((await this.store.reportedVersion(deviceId))?.version !== running) {
      await this.store.reportVersion(deviceId, running, now);
    }
    const sessions = await this.store.listSessions({ deviceId, limit: 50 });
    const session = sessions.find((s) => isOpen(s) && s.client === 'later');
    if (!session) {
      // Nothing open: only a success on the version of its latest session corrects a failure.
      const latest = sessions.find((s) => s.client === 'later');
      const outcome = latest && bootOutcome(latest, running, status, detail);
      if (latest && outcome?.kind === 'succeeded' && latest.state === 'failed') {
        return this.settle(latest, this.marked(outcome, reporter), now);
      }
      return undefined;
    }
    const outcome = bootOutcome(session, running, status, detail);
    if (!outcome) return undefined;
    return this.settle(session, this.marked(outcome, reporter), now);
  }

  private marked(outcome: SessionOutcome, reporter: Reporter): SessionOutcome {
    return reporter.authenticated ? outcome : { ...outcome, unauthenticated: true };
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
          authenticated: after.outcomeAuthenticated,
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
