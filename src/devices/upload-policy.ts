/**
 * The policy rules an upload must pass, decided inside the storage transaction on the device row
 * it locks (like the replay check), so a concurrent `disable` or policy change cannot race an
 * upload, and the request thread needs no device lookup for field devices.
 */
import type { DevicePolicy, DeviceStatus } from '../model/device.js';
import type { PolicyRejection } from '../model/policy.js';
import type { UploadProtocol } from '../ports/storage.js';

export interface PolicySubject {
  status: DeviceStatus;
  policy: DevicePolicy;
  hasOwnKeys: boolean;
}

export interface PolicyRequest {
  protocol: UploadProtocol;
  encrypted: boolean;
  /** `null` when the fleet key (or no key) authenticated the upload. */
  keyKid: string | null;
}

export function checkUploadPolicy(device: PolicySubject, req: PolicyRequest): PolicyRejection | null {
  if (device.status === 'disabled') return 'device_disabled';
  if (device.policy.requireV2 && req.protocol !== 'v2') return 'v2_required';
  if (req.protocol === 'unsecured') return device.policy.allowUnsecured ? null : 'unsecured_not_allowed';
  // A device with keys of its own must use them: the fleet key is public knowledge.
  if (req.keyKid === null && device.hasOwnKeys) return 'fleet_key_not_allowed';
  if (device.policy.requireEncryption && !req.encrypted) return 'encryption_required';
  return null;
}
