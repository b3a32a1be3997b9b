/**
 * Remote configuration: a fleet default every device inherits, per-device overrides, numbered
 * versions with who/when/why, and per device the state of each key from the device's own
 * behaviour. `/changes` answers are computed for the calling device only and offered again until
 * the device is seen running them. The MQTT settings topic feeds the same model.
 */
import { ApiError } from '../errors.js';
import type { FieldSettingsSink, ParsedFieldSettings } from '../mqtt/settings-topic.js';
import type {
  ChangeSource,
  ConfigChangeOutcome,
  ConfigScope,
  ConfigStore,
  ConfigVersion,
  OfferedValue,
  ScopeConfig,
} from '../ports/config-store.js';
import type { Storage } from '../ports/storage.js';
import { registerById } from '../protocol/registers.js';
import {
  buildChangesResponse,
  type ChangesOffer,
  type ChangesResponse,
  isEmptyOffer,
} from './changes-response.js';
import {
  CONFIG_KEYS,
  type ConfigKey,
  type ConfigPatch,
  type ConfigValue,
  type DeviceConfig,
  FIRMWARE_DEFAULTS,
  type FieldErrors,
  isSafeCadence,
  mergeConfig,
  parseConfigPatch,
} from './config-schema.js';
import {
  buildOffer,
  deriveKeyStatus,
  type KeyState,
  type KeyStatus,
  overallState,
  type Running,
  runningInterval,
} from './config-state.js';
import { FIELD_FIRMWARE } from './field-firmware.js';
import { observeCadence } from './observed-cadence.js';

/** Uploads looked at to tell what a device runs (a few upload intervals are enough). */
const CADENCE_WINDOW = 12;

export interface DeviceConfigStatus {
  deviceId: string;
  firmware: string;
  /** Latest version (fleet or device) that shapes this device's desired configuration. */
  version: number;
  state: KeyState;
  desired: DeviceConfig;
  fleet: DeviceConfig;
  overrides: DeviceConfig;
  running: Partial<Record<ConfigKey, Running>>;
  keys: KeyStatus[];
  /** What `/changes` answers now. */
  offer: ChangesOffer;
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
    private readonly registry: Pick<Storage, 'getDevice'>,
    private readonly now: () => number = Date.now,
  ) {}

  private async requireDevice(id: string): Promise<void> {
    if (!(await this.registry.getDevice(id))) throw new ApiError('not_found', `No device "${id}".`);
  }

  fleet(): Promise<ScopeConfig> {
    return this.store.loadScope(null);
  }

  async status(deviceId: string): Promise<DeviceConfigStatus> {
    await this.requireDevice(deviceId);
    const [fleet, own, deliveries, uploads] = await Promise.all([
      this.store.loadScope(null),
      this.store.loadScope(deviceId),
      this.store.loadDeliveries(deviceId),
      this.store.recentUploads(deviceId, CADENCE_WINDOW),
    ]);
    const spans = observeCadence(uploads);
    const desired = mergeConfig(fleet.values, own.values);
    const keys: KeyStatus[] = [];
    for (const key of CONFIG_KEYS) {
      const value = desired[key];
      if (value === undefined) continue;
      const fromDevice = own.values[key] !== undefined;
      const versions = fromDevice ? own.versions : fleet.versions;
      keys.push(
        deriveKeyStatus(
          {
            key,
            desired: value,
            source: fromDevice ? 'device' : 'fleet',
            version: versions[key] ?? 0,
            delivery: deliveries.get(key),
          },
          spans,
        ),
      );
    }
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
    return {
      deviceId,
      firmware: FIELD_FIRMWARE,
      version: Math.max(fleet.version, own.version),
      state: overallState(keys),
      desired,
      fleet: fleet.values,
      overrides: own.values,
      running,
      keys,
      offer,
    };
  }

  /** The `/changes` answer for this device; what it carries is recorded as delivered. */
  async answerChanges(deviceId: string): Promise<ChangesResponse> {
    const status = await this.status(deviceId);
    const response = buildChangesResponse(status.offer);
    if (!isEmptyOffer(status.offer)) {
      const versionOf = new Map(status.keys.map((k) => [k.key, k.version]));
      const offered: OfferedValue[] = (Object.entries(status.offer) as [ConfigKey, ConfigValue][]).map(
        ([key, value]) => ({ key, value, version: versionOf.get(key) ?? status.version }),
      );
      await this.store.recordDeliveries(deviceId, offered, this.now());
    }
    return response;
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
