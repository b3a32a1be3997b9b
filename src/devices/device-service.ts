/**
 * Administrative operations on the device registry. Every mutation names an actor and is
 * written to the audit log in the same transaction.
 */
import { randomBytes } from 'node:crypto';
import {
  DEVICE_ID_PATTERN,
  type Device,
  type DeviceKey,
  type DevicePolicy,
  FIELD_INITIAL_HIGH,
  type KeyKind,
} from '../model/device.js';
import { ApiError } from '../model/errors.js';
import type { ReplayMode } from '../model/replay.js';
import { armedAt } from '../model/replay-window.js';
import type { AuditEntry, DeviceRegistry } from '../ports/storage.js';
import type { KeyVault } from './key-vault.js';

/** A new key as shown once to the administrator (never again: storage keeps it sealed). */
export type NewKeyMaterial =
  | { kind: 'v1'; kid: string; hmac_key: string; aes_key: string; iv: string }
  | { kind: 'v2'; kid: string; key: string };

export interface AddDeviceInput {
  id: string;
  policy?: Partial<DevicePolicy>;
  /** Give the device a key of its own instead of the fleet key. */
  withKey?: boolean;
  /** `v2`: a protocol v2 device key (`PROTOCOL.md` §11); default a v1 key set. */
  keyKind?: KeyKind;
  /** Highest nonce to treat as already used (default 10000, the field firmware's start). */
  initialNonce?: number | null;
}

export const MAX_ACTIVE_KEYS = 2;

export class DeviceService {
  constructor(
    private readonly storage: DeviceRegistry,
    private readonly defaults: { allowUnsecured: boolean; replay: ReplayMode },
    /** Seals key material before it is stored; without one, keys are stored as given. */
    private readonly vault?: KeyVault,
    private readonly now: () => number = Date.now,
  ) {}

  private audit(
    actor: string,
    action: string,
    deviceId: string,
    reason: string | null,
    detail?: object,
  ): AuditEntry {
    return {
      time: this.now(),
      actor,
      action,
      deviceId,
      reason,
      ...(detail ? { detail: detail as Record<string, unknown> } : {}),
    };
  }

  private newKey(
    existing: readonly DeviceKey[],
    kind: KeyKind,
  ): { key: DeviceKey; material: NewKeyMaterial } {
    let n = existing.length + 1;
    while (existing.some((k) => k.kid === `k${n}`)) n++;
    const kid = `k${n}`;
    const seal = (hex: string) => (this.vault ? this.vault.seal(hex) : hex);
    const base = {
      kid,
      kind,
      status: 'active' as const,
      createdAt: this.now(),
      lastUsedAt: null,
      retiredAt: null,
    };
    if (kind === 'v2') {
      const key = randomBytes(32).toString('hex');
      return { key: { ...base, hmacKey: seal(key), aesKey: null, iv: null }, material: { kind, kid, key } };
    }
    const material = {
      kind,
      kid,
      hmac_key: randomBytes(32).toString('hex'),
      aes_key: randomBytes(16).toString('hex'),
      iv: randomBytes(16).toString('hex'),
    };
    return {
      key: {
        ...base,
        hmacKey: seal(material.hmac_key),
        aesKey: seal(material.aes_key),
        iv: seal(material.iv),
      },
      material,
    };
  }

  async require(id: string): Promise<Device> {
    const d = await this.storage.getDevice(id);
    if (!d) throw new ApiError('not_found', `No device "${id}".`);
    return d;
  }

  list(): Promise<Device[]> {
    return this.storage.listDevices();
  }

  async add(input: AddDeviceInput, actor: string): Promise<{ device: Device; key: NewKeyMaterial | null }> {
    if (!DEVICE_ID_PATTERN.test(input.id)) {
      throw new ApiError('invalid_parameter', 'id must be 1-128 letters, digits or _.:- characters', {
        details: { field: 'id' },
      });
    }
    if (await this.storage.getDevice(input.id))
      throw new ApiError('conflict', `Device "${input.id}" already exists.`);
    const policy: DevicePolicy = {
      allowUnsecured: input.policy?.allowUnsecured ?? this.defaults.allowUnsecured,
      allowUnsecuredConfig: input.policy?.allowUnsecuredConfig ?? false,
      requireV2: input.policy?.requireV2 ?? false,
      requireEncryption: input.policy?.requireEncryption ?? false,
      replay: input.policy?.replay ?? this.defaults.replay,
    };
    const kind = input.keyKind ?? 'v1';
    const generated = input.withKey || kind === 'v2' ? this.newKey([], kind) : null;
    // A v2 device starts its own nonce sequence; a field device continues the firmware's.
    const initial = kind === 'v2' ? null : FIELD_INITIAL_HIGH;
    const replay = armedAt(input.initialNonce === undefined ? initial : input.initialNonce);
    const device = await this.storage.createDevice(
      {
        id: input.id,
        status: 'active',
        policy,
        keys: generated ? [generated.key] : [],
        replay,
        createdAt: this.now(),
      },
      this.audit(actor, 'device.added', input.id, null, {
        policy: describePolicy(policy),
        withKey: !!generated,
        ...(generated ? { kid: generated.key.kid, keyKind: kind } : {}),
      }),
    );
    return { device, key: generated?.material ?? null };
  }

  async setStatus(
    id: string,
    status: 'active' | 'disabled',
    actor: string,
    reason: string | null,
  ): Promise<Device> {
    await this.require(id);
    const action = status === 'disabled' ? 'device.disabled' : 'device.enabled';
    return (await this.storage.setDeviceStatus(id, status, this.audit(actor, action, id, reason))) as Device;
  }

  async setPolicy(id: string, patch: Partial<DevicePolicy>, actor: string): Promise<Device> {
    const d = await this.require(id);
    const policy: DevicePolicy = { ...d.policy, ...patch };
    return (await this.storage.setDevicePolicy(
      id,
      policy,
      this.audit(actor, 'device.policy', id, null, { policy: describePolicy(policy) }),
    )) as Device;
  }

  async rotateKey(
    id: string,
    actor: string,
    reason: string | null,
  ): Promise<{ device: Device; key: NewKeyMaterial }> {
    const d = await this.require(id);
    const active = d.keys.filter((k) => k.status === 'active');
    if (active.length >= MAX_ACTIVE_KEYS) {
      throw new ApiError(
        'conflict',
        `Device "${id}" already has ${MAX_ACTIVE_KEYS} active keys; a rotation is in progress. Retire one first.`,
      );
    }
    const newest = active[active.length - 1];
    const { key, material } = this.newKey(d.keys, newest?.kind ?? 'v1');
    const device = (await this.storage.addDeviceKey(
      id,
      key,
      this.audit(actor, 'key.added', id, reason, { kid: key.kid }),
    )) as Device;
    return { device, key: material };
  }

  async retireKey(id: string, kid: string, actor: string, reason: string | null): Promise<Device> {
    const d = await this.require(id);
    const key = d.keys.find((k) => k.kid === kid);
    if (key?.status !== 'active')
      throw new ApiError('not_found', `Device "${id}" has no active key "${kid}".`);
    if (d.keys.filter((k) => k.status === 'active').length === 1) {
      // Without keys of its own a device would fall back to the public fleet key.
      throw new ApiError('conflict', `"${kid}" is the last active key of "${id}"; rotate first.`);
    }
    return (await this.storage.retireDeviceKey(
      id,
      kid,
      this.audit(actor, 'key.retired', id, reason, { kid }),
    )) as Device;
  }

  async resetReplay(id: string, reason: string, actor: string, to: number | null): Promise<Device> {
    if (!reason.trim())
      throw new ApiError('invalid_parameter', 'A reason is required.', { details: { field: 'reason' } });
    const d = await this.require(id);
    return (await this.storage.resetReplay(
      id,
      armedAt(to),
      this.audit(actor, 'replay.reset', id, reason, { previousHigh: d.replay.high, newHigh: to }),
    )) as Device;
  }
}

export function describePolicy(p: DevicePolicy): Record<string, unknown> {
  return {
    allow_unsecured: p.allowUnsecured,
    allow_unsecured_config: p.allowUnsecuredConfig === true,
    require_v2: p.requireV2 === true,
    require_encryption: p.requireEncryption,
    replay: p.replay.kind === 'strict' ? 'strict' : `window:${p.replay.size}`,
  };
}
