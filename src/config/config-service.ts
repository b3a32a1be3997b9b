/**
 * Remote configuration: a fleet default every device inherits, per-device overrides, numbered
 * versions with who/when/why, and per device the state of each key from the device's own
 * behaviour. `/changes` answers are computed for the calling device only and offered again until
 * the device is seen running them; generation 1.3 gets the same model through `GET /config/<id>`,
 * judged by what it reports (config13-state.ts). The MQTT settings topic feeds the same model.
 */

import {
  CONFIG_KEYS,
  type ConfigKey,
  type ConfigPatch,
  type ConfigReport,
  type ConfigValue,
  type Delivery,
  type DeviceConfig,
} from '../model/config.js';
import type { Device, Generation } from '../model/device.js';
import { ApiError } from '../model/errors.js';
import type { FieldErrors } from '../model/field-errors.js';
import type { FieldSettingsSink, ParsedFieldSettings } from '../mqtt/settings-topic.js';
import type {
  ChangeSource,
  ConfigChangeOutcome,
  ConfigScope,
  ConfigStore,
  ConfigVersion,
  OfferedValue,
  ReportedValue,
  ScopeConfig,
} from '../ports/config-store.js';
import type { DeviceRegistry } from '../ports/storage.js';
import { registerById } from '../protocol/registers.js';
import { buildChangesResponse, type ChangesOffer, type ChangesResponse } from './changes-response.js';
import { FIRMWARE_DEFAULTS, isSafeCadence, mergeConfig, parseConfigPatch } from './config-schema.js';
import {
  buildOffer,
  deriveKeyStatus,
  type KeyInput,
  type KeyState,
  type KeyStatus,
  overallState,
  type Running,
  runningInterval,
} from './config-state.js';
import {
  buildConfig13Answer,
  type Config13Answer,
  type Config13Offer,
  GEN13_FIRMWARE,
  parseAcknowledgement13,
  parseRunningConfig13,
} from './config13-response.js';
import { buildOffer13, deriveKeyStatus13, runningFromReport } from './config13-state.js';
import { FIELD_FIRMWARE } from './field-firmware.js';
import { observeCadence } from './observed-cadence.js';

/** Uploads looked at to tell what a device runs (a few upload intervals are enough). */
const CADENCE_WINDOW = 12;

export interface DeviceConfigStatus {
  deviceId: string;
  /** The generation whose channel and rules the state is judged by. */
  generation: Generation;
  firmware: string;
  /** Latest version (fleet or device) that shapes this device's desired configuration. */
  version: number;
  state: KeyState;
  desired: DeviceConfig;
  fleet: DeviceConfig;
  overrides: DeviceConfig;
  running: Partial<Record<ConfigKey, Running>>;
  keys: KeyStatus[];
  /** What `/changes` answers now (e84f720; empty for 1.3). */
  offer: ChangesOffer;
  /** The answer the device's configuration channel gives now: `/changes`, or `GET /config/<id>` for 1.3. */
  nextAnswer: ChangesResponse | Config13Answer;
  /** The values that answer carries, with the version that set each. */
  offered: OfferedValue[];
}

export interface Acknowledged13 {
  status: 'applied' | 'failed';
  /** The keys of the answer acknowledged. */
  keys: ConfigKey[];
}

export interface Reported13 {
  keys: ConfigKey[];
  unknownRegisters: string[];
}

function offeredValues(offer: Config13Offer, keys: readonly KeyStatus[], version: number): OfferedValue[] {
  const versionOf = new Map(keys.map((k) => [k.key, k.version]));
  return (Object.entries(offer) as [ConfigKey, ConfigValue][])
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => ({ key, value, version: versionOf.get(key) ?? version }));
}

/** What the answering channel adds to the state both generations judge the same way. */
type ChannelStatus = Pick<DeviceConfigStatus, 'generation' | 'firmware' | 'offer' | 'nextAnswer'> & {
  /** The values `nextAnswer` carries. */
  carried: Config13Offer;
};

function assembleStatus(
  deviceId: string,
  { fleet, own, desired }: { fleet: ScopeConfig; own: ScopeConfig; desired: DeviceConfig },
  keys: KeyStatus[],
  running: Partial<Record<ConfigKey, Running>>,
  { generation, firmware, offer, nextAnswer, carried }: ChannelStatus,
): DeviceConfigStatus {
  const version = Math.max(fleet.version, own.version);
  return {
    deviceId,
    generation,
    firmware,
    version,
    state: overallState(keys),
    desired,
    fleet: fleet.values,
    overrides: own.values,
    running,
    keys,
    offer,
    nextAnswer,
    offered: offeredValues(carried, keys, version),
  };
}

export interface ChangeMeta {
  actor: string;
  reason: string | null;
  source?: ChangeSource;
}

function invalidConfig(fields: FieldErrors, devices?: Record<string, FieldErrors>): never {
  const names = Object.keys(fields);
  throw new ApiError(
    'invalid_parameter',
    `Invalid configuration, nothing stored: ${names.map((n) => `${n}: ${fields[n]}`).join('; ')}`,
    {
      details: {
        field: names[0],
        fields,
        ...(devices && Object.keys(devices).length > 0 ? { devices } : {}),
      },
    },
  );
}

export class ConfigService implements FieldSettingsSink {
  constructor(
    private readonly store: ConfigStore,
    private readonly registry: Pick<DeviceRegistry, 'getDevice'>,
    private readonly now: () => number = Date.now,
  ) {}

  private async requireDevice(id: string): Promise<Device> {
    const device = await this.registry.getDevice(id);
    if (!device) throw new ApiError('not_found', `No device "${id}".`);
    return device;
  }

  fleet(): Promise<ScopeConfig> {
    return this.store.loadScope(null);
  }

  /**
   * The device's configuration state as its generation sees it: a device that uploads as 1.3, or
   * has reported over the 1.3 configuration channel, is judged by what it reports; any other by
   * what its uploads show (e84f720).
   */
  async status(deviceId: string): Promise<DeviceConfigStatus> {
    const device = await this.requireDevice(deviceId);
    const reports = await this.store.loadReports(deviceId);
    const generation: Generation = device.generation === '1.3' || reports.size > 0 ? '1.3' : 'e84f720';
    return generation === '1.3' ? this.status13(deviceId, reports) : this.statusField(deviceId);
  }

  private async desiredKeys(
    deviceId: string,
  ): Promise<{ fleet: ScopeConfig; own: ScopeConfig; desired: DeviceConfig; inputs: KeyInput[] }> {
    const [fleet, own, deliveries] = await Promise.all([
      this.store.loadScope(null),
      this.store.loadScope(deviceId),
      this.store.loadDeliveries(deviceId),
    ]);
    const desired = mergeConfig(fleet.values, own.values);
    const inputs: KeyInput[] = [];
    for (const key of CONFIG_KEYS) {
      const value = desired[key];
      if (value === undefined) continue;
      const fromDevice = own.values[key] !== undefined;
      const versions = fromDevice ? own.versions : fleet.versions;
      inputs.push({
        key,
        desired: value,
        source: fromDevice ? 'device' : 'fleet',
        version: versions[key] ?? 0,
        delivery: deliveries.get(key),
      });
    }
    return { fleet, own, desired, inputs };
  }

  /** e84f720: the state of each key from the device's upload cadence; the `/changes` answer. */
  private async statusField(deviceId: string): Promise<DeviceConfigStatus> {
    const [{ fleet, own, desired, inputs }, uploads] = await Promise.all([
      this.desiredKeys(deviceId),
      this.store.recentUploads(deviceId, CADENCE_WINDOW),
    ]);
    const spans = observeCadence(uploads);
    const keys: KeyStatus[] = inputs.map((input) => deriveKeyStatus(input, spans));
    const running: Partial<Record<ConfigKey, Running>> = {};
    const byKey = new Map(keys.map((k) => [k.key, k]));
    const sampling = byKey.get('sampling_interval')?.running ?? runningInterval(spans, 'sampling_interval');
    const upload = byKey.get('upload_interval')?.running ?? runningInterval(spans, 'upload_interval');
    if (sampling) running.sampling_interval = sampling;
    if (upload) running.upload_interval = upload;
    // e84f720 always reads its default selection, whatever was sent (§5.3).
    running.registers = { value: [...FIRMWARE_DEFAULTS.registers], basis: 'firmware' };
    const { offer, held } = buildOffer(
      keys,
      {
        sampling_interval: sampling?.value as number | undefined,
        upload_interval: upload?.value as number | undefined,
      },
      isSafeCadence,
    );
    if (held) {
      for (const k of keys) {
        if ((k.key === 'sampling_interval' || k.key === 'upload_interval') && k.offer) {
          k.offer = false;
          k.note = held;
        }
      }
    }
    return assembleStatus(deviceId, { fleet, own, desired }, keys, running, {
      generation: 'e84f720',
      firmware: FIELD_FIRMWARE,
      offer,
      nextAnswer: buildChangesResponse(offer),
      carried: offer as Config13Offer,
    });
  }

  /** Generation 1.3: the state of each key from what the device reported; the `GET /config` answer. */
  private async status13(
    deviceId: string,
    knownReports?: Map<ConfigKey, ConfigReport>,
  ): Promise<DeviceConfigStatus> {
    const [{ fleet, own, desired, inputs }, reports] = await Promise.all([
      this.desiredKeys(deviceId),
      knownReports ?? this.store.loadReports(deviceId),
    ]);
    const keys = inputs.map((input) => deriveKeyStatus13(input, reports.get(input.key)));
    const running: Partial<Record<ConfigKey, Running>> = {};
    for (const [key, report] of reports) {
      const r = runningFromReport(report);
      if (r) running[key] = r;
    }
    const { offer, refused } = buildOffer13(keys, running);
    for (const k of keys) {
      if (k.offer && refused[k.key] !== undefined) {
        k.offer = false;
        k.state = 'unsupported';
        k.note = `not offered: ${refused[k.key]}`;
      }
    }
    // A value taken without an acknowledgement is the best knowledge of what runs.
    for (const k of keys) if (k.running && k.running.basis === 'unacknowledged') running[k.key] = k.running;
    return assembleStatus(deviceId, { fleet, own, desired }, keys, running, {
      generation: '1.3',
      firmware: GEN13_FIRMWARE,
      offer: {},
      nextAnswer: buildConfig13Answer(offer),
      carried: offer,
    });
  }

  /** The `/changes` answer for this device; what it carries is recorded as delivered. */
  async answerChanges(deviceId: string): Promise<ChangesResponse> {
    await this.requireDevice(deviceId);
    const status = await this.statusField(deviceId);
    if (status.offered.length > 0) await this.store.recordDeliveries(deviceId, status.offered, this.now());
    return status.nextAnswer as ChangesResponse;
  }

  /** The `GET /config/<id>` answer (generation 1.3); what it carries is recorded as delivered. */
  async answerConfig13(deviceId: string): Promise<Config13Answer> {
    await this.requireDevice(deviceId);
    const status = await this.status13(deviceId);
    if (status.offered.length > 0) await this.store.recordDeliveries(deviceId, status.offered, this.now());
    return status.nextAnswer as Config13Answer;
  }

  /**
   * `POST /config/<id>/acknowledge`: the device applied (or failed to apply) the change it was
   * last answered. The acknowledgement does not say which keys, so it covers the keys of the
   * latest answer that carried any; the power-management state it reports is what the device runs.
   */
  async acknowledge13(deviceId: string, doc: Record<string, unknown>): Promise<Acknowledged13> {
    const ack = parseAcknowledgement13(doc);
    await this.requireDevice(deviceId);
    const deliveries = await this.store.loadDeliveries(deviceId);
    const latest = Math.max(...[...deliveries.values()].map((d) => d.lastAt));
    const keys = CONFIG_KEYS.filter((k) => deliveries.get(k)?.lastAt === latest);
    if (keys.length === 0) {
      throw new ApiError(
        'conflict',
        `Nothing was offered to device "${deviceId}": there is no configuration change to acknowledge.`,
      );
    }
    const outcome = ack.status === 'applied' ? 'running' : 'failed';
    const reports: ReportedValue[] = keys.map((key) => ({
      key,
      value: (deliveries.get(key) as Delivery).value,
      outcome,
      basis: 'acknowledged',
    }));
    const pm = ack.powerManagement;
    if (pm && (ack.status === 'applied' || !keys.includes('power_management'))) {
      const i = reports.findIndex((r) => r.key === 'power_management');
      const report: ReportedValue = {
        key: 'power_management',
        value: pm.enabled,
        outcome: 'running',
        basis: 'acknowledged',
      };
      if (i >= 0) reports[i] = report;
      else reports.push(report);
    }
    await this.store.recordReports(deviceId, reports, this.now());
    return { status: ack.status, keys };
  }

  /** `POST /config/<id>/current`: the configuration the device runs, reported at boot. */
  async reportCurrent13(deviceId: string, doc: Record<string, unknown>): Promise<Reported13> {
    const current = parseRunningConfig13(doc);
    await this.requireDevice(deviceId);
    const reports: ReportedValue[] = (Object.entries(current.values) as [ConfigKey, ConfigValue][]).map(
      ([key, value]) => ({ key, value, outcome: 'running', basis: 'reported at boot' }),
    );
    await this.store.recordReports(deviceId, reports, this.now());
    return { keys: reports.map((r) => r.key), unknownRegisters: current.unknownRegisters };
  }

  /** Applies a partial configuration to the fleet (`scope` null) or one device; all or nothing. */
  async change(
    scope: ConfigScope,
    body: Record<string, unknown>,
    meta: ChangeMeta,
  ): Promise<Extract<ConfigChangeOutcome, { ok: true }>> {
    const { patch, errors } = parseConfigPatch(body);
    if (Object.keys(errors).length > 0) invalidConfig(errors);
    if (Object.keys(patch).length === 0) invalidConfig({ body: 'name at least one configuration key' });
    if (scope !== null) await this.requireDevice(scope);
    return this.commit(scope, patch, meta);
  }

  private async commit(
    scope: ConfigScope,
    patch: ConfigPatch,
    meta: ChangeMeta,
  ): Promise<Extract<ConfigChangeOutcome, { ok: true }>> {
    const outcome = await this.store.changeConfig({
      scope,
      patch,
      actor: meta.actor,
      reason: meta.reason,
      source: meta.source ?? 'api',
      time: this.now(),
    });
    if (!outcome.ok) invalidConfig(outcome.fields, outcome.devices);
    return outcome;
  }

  /**
   * Withdraws what a device has not applied yet by pinning each such key to the value it is seen
   * running (a new version, audited); the device is then in step and nothing is offered.
   */
  async withdraw(deviceId: string, meta: ChangeMeta): Promise<Extract<ConfigChangeOutcome, { ok: true }>> {
    const status = await this.status(deviceId);
    const patch: ConfigPatch = {};
    const unknown: string[] = [];
    for (const k of status.keys) {
      const open = k.state === 'pending' || k.state === 'delivered' || k.state === 'failed';
      const undelivered = k.key === 'registers' && k.state === 'unsupported';
      if (!open && !undelivered) continue;
      const running = status.running[k.key];
      if (running) patch[k.key] = running.value;
      else unknown.push(k.key);
    }
    if (unknown.length > 0) {
      throw new ApiError(
        'conflict',
        `The device has not been seen running ${unknown.join(', ')} yet, so there is nothing to go back to; set the value you want instead.`,
      );
    }
    if (Object.keys(patch).length === 0)
      throw new ApiError('conflict', `Device "${deviceId}" has no pending change.`);
    return this.commit(deviceId, patch, { ...meta, source: 'withdraw' });
  }

  async history(scope: ConfigScope, limit: number): Promise<ConfigVersion[]> {
    if (scope !== null) await this.requireDevice(scope);
    return this.store.listVersions(scope, limit);
  }

  /**
   * `esp32/ecowatt_settings` (PROTOCOL.md §5.4). A message for no device in particular changes
   * the fleet default, as the field dashboards meant it for every device; one naming a device
   * changes that device. Like the device itself, nothing happens unless `Changed` is true.
   */
  async applyFieldSettings(target: string | null, settings: ParsedFieldSettings): Promise<void> {
    if (!settings.changed) return;
    const body: Record<string, unknown> = {};
    if (settings.pollIntervalSeconds !== undefined) body.sampling_interval = settings.pollIntervalSeconds;
    if (settings.uploadIntervalSeconds !== undefined) body.upload_interval = settings.uploadIntervalSeconds;
    if (settings.registers !== undefined) {
      body.registers = settings.registers.map((id) => registerById(id)?.name ?? id);
    }
    if (Object.keys(body).length === 0) return;
    const reason =
      settings.warnings.length > 0 ? `MQTT settings (${settings.warnings.join('; ')})` : 'MQTT settings';
    await this.change(target, body, { actor: 'mqtt', reason, source: 'mqtt' });
  }
}
