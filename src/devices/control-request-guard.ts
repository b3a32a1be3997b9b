/**
 * Authenticates a device's control requests (`/changes`, `/device_settings`, command polls and
 * results) exactly like its uploads: the same envelope and keys, and the nonce advances the same
 * replay state, so a captured request can be replayed neither here nor as an upload. A bare
 * request is accepted only from a device whose policy allows unsecured control requests (the
 * field firmware sends `/changes` unsigned); allowing bare uploads does not imply it.
 */
import type { FastifyBaseLogger as Logger } from 'fastify';
import { ApiError, type ErrorCode } from '../errors.js';
import type { AuthenticatedRequest, IngestRequest } from '../ingest/ingest-service.js';
import { storageCall } from '../ingest/storage-call.js';
import { checkUploadPolicy } from '../ingest/upload-policy.js';
import type { Storage } from '../ports/storage.js';
import type { Mode } from '../settings.js';
import type { Device } from './device.js';

export interface RequestAuthenticator {
  authenticateRequest(req: IngestRequest): Promise<AuthenticatedRequest>;
}

export interface ControlRequest extends IngestRequest {
  /** The device a path names (`/commands/<id>/…`): the authenticated device must be it. */
  pathDeviceId?: string;
}

export interface ControlCaller {
  device: Device;
  document: Record<string, unknown>;
  protocol: AuthenticatedRequest['protocol'];
  nonce: number | null;
  /** The device key that authenticated the request (`null`: fleet key or unsigned). */
  keyKid: string | null;
}

type GuardStorage = Pick<Storage, 'getDevice' | 'acceptNonce' | 'recordSecurityEvent' | 'countReject'>;

export class ControlRequestGuard {
  constructor(
    private readonly auth: RequestAuthenticator,
    private readonly storage: GuardStorage,
    private readonly opts: { mode: Mode; counterResetThreshold: number },
    private readonly log: Logger,
  ) {}

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
    const rejection = checkUploadPolicy(
      {
        status: device.status,
        policy: { ...device.policy, allowUnsecured: device.policy.allowUnsecuredConfig === true },
        hasOwnKeys: device.keys.some((k) => k.status === 'active'),
      },
      { protocol: auth.protocol, encrypted: auth.encrypted, keyKid: auth.keyKid },
    );
    if (rejection === 'fleet_key_not_allowed') this.reject(req, 'authentication_failed', rejection, ctx);
    if (rejection === 'unsecured_not_allowed') this.refuseUnsigned(device.id);
    if (rejection) this.reject(req, rejection, rejection, ctx);
    if (auth.nonce !== null) await this.advance(req, device.id, auth.nonce);
    return {
      device,
      document: auth.document as Record<string, unknown>,
      protocol: auth.protocol,
      nonce: auth.nonce,
      keyKid: auth.keyKid,
    };
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
      this.storage.recordSecurityEvent({
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

  private reject(
    req: ControlRequest,
    code: ErrorCode,
    reason: string,
    ctx: { deviceId: string; nonce: number | null },
    detail?: Record<string, unknown>,
  ): never {
    this.storage.recordSecurityEvent({
      time: req.receivedAt,
      deviceId: ctx.deviceId,
      code,
      reason,
      source: req.source,
      nonce: ctx.nonce,
      requestId: req.requestId,
      detail: { request: 'control', ...detail },
    });
    this.storage.countReject(ctx.deviceId, code);
    this.log.warn({
      event: 'security',
      device: ctx.deviceId,
      code,
      reason,
      source: req.source,
      nonce: ctx.nonce,
    });
    const message =
      this.opts.mode === 'development' && code === 'replayed_nonce'
        ? `Replay attack detected (${reason})`
        : undefined;
    throw new ApiError(code, message);
  }
}
