/** Rollouts and the device groups they can target, for the admin API and the CLI. */

import { DEVICE_ID_PATTERN } from '../model/device.js';
import { ApiError } from '../model/errors.js';
import type {
  FirmwareImage,
  Generation,
  OtaSession,
  Rollout,
  RolloutCounts,
  RolloutTarget,
} from '../model/firmware.js';
import type { FirmwareStore, RolloutAction } from '../ports/firmware-store.js';
import type { FirmwareCatalogue } from './firmware-catalogue.js';
import {
  DEFAULT_FAILURE_THRESHOLD,
  DEFAULT_MIN_OUTCOMES,
  DEFAULT_STEP_WAIT_MS,
  DEFAULT_STEPS,
  nextStepDue,
  validSteps,
} from './rollout-rules.js';

export interface CreateRolloutInput {
  version: string;
  target: RolloutTarget;
  pinned?: boolean;
  failureThreshold?: number;
  minOutcomes?: number;
  reason?: string | null;
}

export interface RolloutReport {
  rollout: Rollout;
  counts: RolloutCounts;
  /**
   * The generations that have a servable image of the version: devices of other generations are
   * skipped (their check says why), not failed.
   */
  generations: Generation[];
}

export const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const MAX_TARGET_DEVICES = 10_000;

const bad = (field: string, message: string): never => {
  throw new ApiError('invalid_parameter', `${field}: ${message}`, { details: { field } });
};

export class RolloutService {
  constructor(
    private readonly store: FirmwareStore,
    private readonly catalogue: FirmwareCatalogue,
    private readonly now: () => number = Date.now,
  ) {}

  /** Fills defaults and checks a target; percentages default to 5, 25, 50, 100 % an hour apart. */
  static normaliseTarget(t: RolloutTarget): RolloutTarget {
    switch (t.kind) {
      case 'all':
        return { kind: 'all' };
      case 'group':
        if (!GROUP_NAME.test(t.group))
          bad('target.group', 'expected 1-64 letters, digits or _.:- characters');
        return { kind: 'group', group: t.group };
      case 'devices': {
        const devices = [...new Set(t.devices)];
        if (devices.length === 0 || devices.length > MAX_TARGET_DEVICES) {
          bad('target.devices', `expected 1 to ${MAX_TARGET_DEVICES} device ids`);
        }
        for (const d of devices)
          if (!DEVICE_ID_PATTERN.test(d)) bad('target.devices', `"${d}" is not a device id`);
        return { kind: 'devices', devices };
      }
      case 'percentage': {
        const steps = t.steps.length > 0 ? [...t.steps] : [...DEFAULT_STEPS];
        if (!validSteps(steps)) bad('target.steps', 'expected increasing percentages in (0, 100]');
        const wait = Number.isFinite(t.stepWaitMs) ? t.stepWaitMs : DEFAULT_STEP_WAIT_MS;
        if (wait < 0) bad('target.step_wait_seconds', 'expected a number ≥ 0');
        return { kind: 'percentage', steps, stepWaitMs: wait };
      }
    }
  }

  /** One rollout of a version offers each device the image of its own generation. */
  async create(input: CreateRolloutInput, actor: string): Promise<RolloutReport> {
    const images = await this.catalogue.imagesOf(input.version);
    if (images.length === 0)
      throw new ApiError('not_found', `No firmware ${input.version} in the catalogue.`);
    const image = images.find((i) => this.catalogue.servable(i));
    if (!image) {
      const first = images[0];
      if (!this.catalogue.keysFor(first.generation)) this.catalogue.requireKeys(first.generation);
      throw new ApiError(
        'conflict',
        `Firmware ${first.version} was prepared with other keys (${images.map((i) => `${i.generation}: key set ${i.keyId}`).join(', ')}); add it again under the current keys.`,
      );
    }
    const target = RolloutService.normaliseTarget(input.target);
    if (target.kind === 'group' && !(await this.store.listGroups()).has(target.group)) {
      throw new ApiError(
        'not_found',
        `No group "${target.group}": set its members first (PUT /api/rollout-groups/${target.group}).`,
      );
    }
    const failureThreshold = input.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD;
    if (!(failureThreshold >= 0 && failureThreshold <= 1))
      bad('failure_threshold', 'expected a fraction from 0 to 1');
    const minOutcomes = input.minOutcomes ?? DEFAULT_MIN_OUTCOMES;
    if (!Number.isInteger(minOutcomes) || minOutcomes < 1) bad('min_outcomes', 'expected an integer ≥ 1');
    const now = this.now();
    const rollout = await this.store.createRollout(
      {
        version: image.version,
        target,
        pinned: input.pinned ?? false,
        failureThreshold,
        minOutcomes,
        createdAt: now,
      },
      {
        time: now,
        actor,
        action: 'rollout.created',
        deviceId: null,
        reason: input.reason ?? null,
        detail: {
          version: image.version,
          generations: this.servableGenerations(images),
          target,
          pinned: input.pinned ?? false,
        },
      },
    );
    return {
      rollout,
      counts: await this.store.counts(rollout.id, now),
      generations: this.servableGenerations(images),
    };
  }

  private servableGenerations(images: readonly FirmwareImage[]): Generation[] {
    return images.filter((i) => this.catalogue.servable(i)).map((i) => i.generation);
  }

  /** The rollout as it stands now: a due step is taken before it is shown. */
  private async current(r: Rollout): Promise<RolloutReport> {
    const now = this.now();
    let counts = await this.store.counts(r.id, now);
    let rollout = r;
    if (nextStepDue(r, counts, now)) {
      rollout = (await this.store.evaluateRollout(r.id, now)) ?? r;
      counts = await this.store.counts(r.id, now);
    }
    const generations = this.servableGenerations(await this.catalogue.imagesOf(r.version));
    return { rollout, counts, generations };
  }

  async list(): Promise<RolloutReport[]> {
    return Promise.all((await this.store.listRollouts()).map((r) => this.current(r)));
  }

  async get(id: number): Promise<RolloutReport & { sessions: OtaSession[] }> {
    const r = await this.store.getRollout(id);
    if (!r) throw new ApiError('not_found', `No rollout ${id}.`);
    const report = await this.current(r);
    return { ...report, sessions: await this.store.listSessions({ rolloutId: id, limit: 100_000 }) };
  }

  async change(
    id: number,
    action: RolloutAction,
    actor: string,
    reason: string | null,
  ): Promise<RolloutReport> {
    const now = this.now();
    const result = await this.store.changeRollout(id, action, {
      time: now,
      actor,
      action: `rollout.${action === 'pause' ? 'paused' : action === 'resume' ? 'resumed' : 'aborted'}`,
      deviceId: null,
      reason,
      detail: { rollout: id },
    });
    if (!result.ok) {
      if (result.reason === 'not_found') throw new ApiError('not_found', `No rollout ${id}.`);
      throw new ApiError('conflict', `Rollout ${id} is ${result.rollout?.state}: it cannot be ${action}d.`);
    }
    return {
      rollout: result.rollout,
      counts: await this.store.counts(id, now),
      generations: this.servableGenerations(await this.catalogue.imagesOf(result.rollout.version)),
    };
  }

  async groups(): Promise<Map<string, string[]>> {
    return this.store.listGroups();
  }

  async setGroup(name: string, devices: readonly string[], actor: string): Promise<string[]> {
    if (!GROUP_NAME.test(name)) bad('name', 'expected 1-64 letters, digits or _.:- characters');
    if (devices.length > MAX_TARGET_DEVICES) bad('devices', `at most ${MAX_TARGET_DEVICES} devices`);
    for (const d of devices) if (!DEVICE_ID_PATTERN.test(d)) bad('devices', `"${d}" is not a device id`);
    const unique = [...new Set(devices)];
    return this.store.setGroup(name, unique, {
      time: this.now(),
      actor,
      action: unique.length > 0 ? 'group.set' : 'group.deleted',
      deviceId: null,
      reason: null,
      detail: { group: name, devices: unique.length },
    });
  }
}
