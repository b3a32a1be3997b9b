/**
 * Authenticates a device's control requests (`/changes`, `/device_settings`, command polls and
 * results) exactly like its uploads: the same envelope and keys, and the nonce advances the same
 * replay state, so a captured request can be replayed neither here nor as an upload. A bare
 * request is accepted only from a device whose policy allows unsecured control requests (the
 * field firmware sends `/changes` unsigned; generation 1.3 signs no control request at all), or
 * whose generation `ECOWATT_UNSECURED_CONTROL` covers; allowing bare uploads does not imply it.
 * A bare request is then also bound to its source: it must come from the address of the device's
 * latest authenticated upload, within a window, so a stranger elsewhere cannot steer the device.
 */
import type { FastifyBaseLogger as Logger } from 'fastify';
import { storageCall } from '../http/storage-call.js';
import type { Device, Generation } from '../model/device.js';
import { ApiError, type ErrorCode } from '../model/errors.js';
import type { SecurityEvents } from '../observability/security-events.js';
import type { Storage } from '../ports/storage.js';
import type { UnsecuredControl } from '../settings/sections.js';
import type { AuthenticatedRequest, DeviceAuthenticator, DeviceRequest } from './device-authenticator.js';
import type { Refusals } from './refusals.js';
import { checkUploadPolicy } from './upload-policy.js';

export type RequestAuthenticator = Pick<DeviceAuthenticator, 'authenticateRequest'>;

export interface ControlRequest extends DeviceRequest {
  /** The device a path names (`/commands/<id>/…`): the authenticated device must be it. */
  pathDeviceId?: string;
}

export interface ControlGuardOptions {
  counterResetThreshold: number;
  /** Generations allowed unsigned control requests without a per-device policy. */
  unsecuredControl: UnsecuredControl;
  /** How long after its latest authenticated upload a device's address may make bare requests. */
  sourceWindowMs: number;
}

/** Whether the setting lets a device of this generation make unsigned control requests. */
export function coversGeneration(setting: UnsecuredControl, generation: Generation): boolean {
  return setting === 'all' || setting === generation;
}

export interface ControlCaller {
  device: Device;
  document: Record<string, unknown>;
  protocol: AuthenticatedRequest['protocol'];
  nonce: number | null;
  /** The device key that authenticated the request (`null`: fleet key or unsigned). */
  keyKid: string | null;
}

type GuardStorage = Pick<Storage, 'getDevice' | 'acceptNonce' | 'countControl'>;

export class ControlRequestGuard {
  private readonly unsecuredListeners: ((device: Device, generation: Generation) => void)[] = [];

  constructor(
    private readonly auth: RequestAuthenticator,
    private readonly storage: GuardStorage,
    private readonly refusals: Refusals,
    private readonly events: SecurityEvents,
    private readonly opts: ControlGuardOptions,
    private readonly log: Logger,
  ) {}

  /** Called for every unsigned control request accepted (metrics, dashboard). Quick, must not throw. */
  onUnsecuredAccepted(listener: (device: Device, generation: Generation) => void): void {
    this.unsecuredListeners.push(listener);
  }

  async authenticate(req: ControlRequest): Promise<ControlCaller> {
    const auth = await this.auth.authenticateRequest(req);
    const ctx = { deviceId: auth.deviceId, nonce: auth.nonce };
    if (req.pathDeviceId !== undefined && req.pathDeviceId !== auth.deviceId) {
      this.reject(req, 'authentication_failed', 'device_id_mismatch', ctx, { path: req.pathDeviceId });
    }
    const device = await storageCall(this.log, 'device read', () => this.storage.getDevice(auth.deviceId));
    if (!device) {
      // A bare request learns nothing about which devices exist.
      if (auth.protocol === 'unsecured') this.refuseUnsigned(auth.deviceId);
      throw new ApiError(
        'not_found',
        `No device "${auth.deviceId}": a device is registered by its first upload.`,
      );
    }
    const generation = req.generation ?? device.generation ?? 'e84f720';
    const bareAllowed =
      device.policy.allowUnsecuredConfig === true || coversGeneration(this.opts.unsecuredControl, generation);
    const rejection = checkUploadPolicy(
      {
        status: device.status,
        policy: { ...device.policy, allowUnsecured: bareAllowed },
        hasOwnKeys: device.keys.some((k) => k.status === 'active'),
      },
      { protocol: auth.protocol, encrypted: auth.encrypted, keyKid: auth.keyKid },
    );
    if (rejection === 'fleet_key_not_allowed') this.reject(req, 'authentication_failed', rejection, ctx);
    if (rejection === 'unsecured_not_allowed') this.refuseUnsigned(device.id);
    if (rejection) this.reject(req, rejection, rejection, ctx);
    if (auth.nonce !== null) await this.advance(req, device.id, auth.nonce);
    else this.acceptBare(req, device, generation);
    return {
      device,
      document: auth.document as Record<string, unknown>,
      protocol: auth.protocol,
      nonce: auth.nonce,
      keyKid: auth.keyKid,
    };
  }

  /**
   * A bare request allowed by the generation-wide setting is believed only from where the device's
   * authenticated uploads come from. A device an administrator allowed by its own policy is exempt
   * (a device behind a NAT whose address changes between requests; docs/field-fleet.md).
   */
  private acceptBare(req: ControlRequest, device: Device, generation: Generation): void {
    const at = device.lastAuthAt;
    const fresh = at !== null && req.receivedAt - at <= this.opts.sourceWindowMs;
    const bound = device.policy.allowUnsecuredConfig !== true;
    if (bound && (device.lastAuthSource !== req.source || !fresh)) {
      // A short, fixed reason (it labels a metric); the addresses go in the detail.
      const why =
        device.lastAuthSource === null
          ? 'no_authenticated_upload'
          : device.lastAuthSource !== req.source
            ? 'other_address'
            : 'authenticated_upload_too_old';
      this.reject(
        req,
        'control_source_mismatch',
        why,
        { deviceId: device.id, nonce: null },
        {
          generation,
          authenticated_source: device.lastAuthSource,
          authenticated_at: at === null ? null : new Date(at).toISOString(),
          window_seconds: Math.round(this.opts.sourceWindowMs / 1000),
        },
      );
    }
    this.storage.countControl(device.id, generation);
    for (const listener of this.unsecuredListeners) {
      try {
        listener(device, generation);
      } catch (err) {
        this.log.error({ err }, 'unsecured control listener failed');
      }
    }
  }

  private async advance(req: ControlRequest, deviceId: string, nonce: number): Promise<void> {
    const outcome = await storageCall(
      this.log,
      'nonce commit',
      () => this.storage.acceptNonce(deviceId, nonce, this.opts.counterResetThreshold),
      { device: deviceId },
    );
    if (outcome.ok) return;
    if (outcome.reason === 'counter_reset_suspected') {
      this.events.record({
        time: req.receivedAt,
        deviceId,
        code: 'counter_reset_suspected',
        reason: `authentic nonce ${nonce} far below the last accepted ${outcome.high}; re-arm with replay-reset`,
        source: req.source,
        nonce,
        requestId: req.requestId,
      });
    }
    this.reject(req, 'replayed_nonce', outcome.reason, { deviceId, nonce }, { high: outcome.high });
  }

  /**
   * A field device asks for changes every 5 s: an unsigned request it may not make is refused
   * without a stored event or counter, or every such device would write one every 5 s.
   */
  private refuseUnsigned(deviceId: string): never {
    this.log.debug({ event: 'control_refused', device: deviceId }, 'unsigned control request refused');
    throw new ApiError(
      'unsecured_not_allowed',
      'This device must seal its control requests in an envelope, or its policy must allow unsecured configuration.',
    );
  }

  /** Control refusals are marked as such in their event's detail. */
  private reject(
    req: ControlRequest,
    code: ErrorCode,
    reason: string,
    ctx: { deviceId: string; nonce: number | null },
    detail?: Record<string, unknown>,
  ): never {
    return this.refusals.refuse(req, code, reason, { ...ctx, detail: { request: 'control', ...detail } });
  }
}
