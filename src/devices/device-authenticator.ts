/**
 * Who sent a device request: opens its envelope (v1 as the field firmware seals it, the 1.3
 * generation's with its `compressed` key, or v2 with the device named in the MAC), chooses the
 * keys (the device's own, else the fleet key), verifies in constant time and checks that the
 * device the document names is the one the request claimed. Uploads and control requests share
 * it; what may be done with an authenticated (or bare) request is the caller's policy.
 */
import type { FastifyBaseLogger as Logger } from 'fastify';
import { storageCall } from '../http/storage-call.js';
import { DEVICE_ID_PATTERN, type Device, type Generation } from '../model/device.js';
import { ApiError } from '../model/errors.js';
import type { Storage } from '../ports/storage.js';
import { isEnvelopeAttempt, openV1, parseV1Envelope, type V1Keys } from '../protocol/envelope-v1.js';
import { deriveV2Keys, isV2Envelope, openV2, parseV2Envelope } from '../protocol/envelope-v2.js';
import type { V2ResponseContext } from '../protocol/v2-response.js';
import type { KeyVault } from './key-vault.js';
import {
  type Outcome,
  quietRefusal,
  type Refusal,
  type Refusals,
  type RequestFacts,
  refusal,
  refused,
} from './refusals.js';

/** A device request as every device route hands it on. */
export interface DeviceRequest extends RequestFacts {
  body: unknown;
  /** The device the request names outside the MAC: `X-Device-Id`, or the path's id. */
  claimedDeviceId: string | undefined;
  /** The generation whose route carries the request; otherwise told by the envelope's keys. */
  generation?: Generation;
  /** Told the key a v2 answer must be signed with (the HTTP layer signs the answer). */
  onResponseKey?: (ctx: V2ResponseContext) => void;
}

export interface OpenedRequest {
  inner: unknown;
  nonce: number | null;
  keyKid: string | null;
  protocol: 'v1' | 'v2' | 'unsecured';
  encrypted: boolean;
  /** The device the request names outside the MAC (`X-Device-Id`, envelope `device_id`, path). */
  claim: string | undefined;
  /** `1.3` when the envelope carries that generation's `compressed` key. */
  generation: Generation | undefined;
}

export interface AuthenticatedRequest {
  deviceId: string;
  /** The request's JSON document (the envelope's plaintext, or the bare body). */
  document: unknown;
  nonce: number | null;
  protocol: 'v1' | 'v2' | 'unsecured';
  encrypted: boolean;
  /** `null` for the fleet key or an unsecured request. */
  keyKid: string | null;
}

export interface AuthenticatorConfig {
  fleetKeys: V1Keys;
  /** Opens the device keys sealed at rest. */
  vault?: KeyVault;
}

/** The opened request, its authenticated plaintext read as JSON (what it means is the caller's business). */
function withPlaintext(plaintext: Buffer, opened: Omit<OpenedRequest, 'inner'>): Outcome<OpenedRequest> {
  try {
    return { ok: true, value: { inner: JSON.parse(plaintext.toString('utf8')), ...opened } };
  } catch {
    return refused(quietRefusal('malformed_payload', 'The authenticated payload is not valid JSON.'));
  }
}

/** The device the document names must be the one the request claimed outside the MAC. */
export function claimMismatch(opened: OpenedRequest, deviceId: string): Refusal | null {
  if (opened.claim === undefined || opened.claim === deviceId) return null;
  return refusal('authentication_failed', 'device_id_mismatch', {
    deviceId: opened.claim,
    nonce: opened.nonce,
    detail: { claimed: opened.claim, inner: deviceId },
  });
}

/** The device id a control document names (the same rule and error as an upload's). */
export function documentDeviceId(doc: Record<string, unknown>): string {
  const id = doc.device_id;
  if (typeof id !== 'string' || !DEVICE_ID_PATTERN.test(id)) {
    throw new ApiError('malformed_payload', 'device_id must be 1-128 letters, digits or _.:- characters');
  }
  return id;
}

const activeKeys = (d: Device | undefined) => (d ? d.keys.filter((k) => k.status === 'active') : []);

export class DeviceAuthenticator {
  constructor(
    private readonly storage: Pick<Storage, 'getDevice'>,
    private readonly config: AuthenticatorConfig,
    private readonly refusals: Refusals,
    private readonly log: Logger,
  ) {}

  /** Opens an envelope (or takes a bare body as it is): authentication only, no policy. */
  private async open(req: DeviceRequest): Promise<OpenedRequest> {
    const opened = await this.openEnvelope(req);
    if (!opened.ok) this.refusals.answer(req, opened.refusal);
    return opened.value;
  }

  /** `open`, with a refusal returned for the caller to tell rather than thrown. */
  async openEnvelope(req: DeviceRequest): Promise<Outcome<OpenedRequest>> {
    const body = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return refused(
        quietRefusal('malformed_payload', 'The body must be a JSON object: an envelope or a document.'),
      );
    }
    if (!isEnvelopeAttempt(body)) {
      // Whether this device may send bare requests is its policy's business, decided later.
      return {
        ok: true,
        value: {
          inner: body,
          nonce: null,
          keyKid: null,
          protocol: 'unsecured',
          encrypted: false,
          claim: req.claimedDeviceId,
          generation: undefined,
        },
      };
    }
    if (isV2Envelope(body)) return this.openV2(req, body);
    const parsed = parseV1Envelope(body);
    if (!parsed.ok) {
      return refused(refusal(parsed.code, parsed.message, { deviceId: req.claimedDeviceId ?? null }));
    }
    const env = parsed.envelope;
    const claim = req.claimedDeviceId ?? env.deviceId;
    const claimed = claim !== undefined ? await this.read(() => this.storage.getDevice(claim)) : undefined;
    const own = activeKeys(claimed).filter((k) => k.kind === 'v1');
    const keyring = own.map((k) => ({ kid: k.kid, keys: this.v1Keys(k) }));
    const keys = keyring.length > 0 ? keyring.map((k) => k.keys) : [this.config.fleetKeys];

    const opened = openV1(env, keys);
    if (!opened.ok) {
      return refused(
        refusal('authentication_failed', opened.reason, {
          deviceId: claimed?.id ?? null,
          nonce: env.nonce,
        }),
      );
    }
    return withPlaintext(opened.plaintext, {
      nonce: opened.nonce,
      keyKid: keyring.length > 0 ? keyring[opened.keyIndex].kid : null,
      protocol: 'v1',
      encrypted: env.encrypted,
      claim,
      generation: 'compressed' in body ? '1.3' : undefined,
    });
  }

  /** Protocol v2 (§11): the device and key are named in the MAC, verified before decryption. */
  private async openV2(req: DeviceRequest, body: object): Promise<Outcome<OpenedRequest>> {
    const parsed = parseV2Envelope(body);
    if (!parsed.ok) {
      return refused(refusal(parsed.code, parsed.message, { deviceId: req.claimedDeviceId ?? null }));
    }
    const env = parsed.envelope;
    const device = await this.read(() => this.storage.getDevice(env.deviceId));
    const keys = activeKeys(device)
      .filter((k) => k.kind === 'v2')
      .map((k) => ({ kid: k.kid, key: Buffer.from(this.openKey(k.hmacKey), 'hex') }));
    const ctx = { deviceId: device?.id ?? null, nonce: env.nonce };
    if (keys.length === 0) return refused(refusal('authentication_failed', 'no_v2_key', ctx));
    const opened = openV2(env, keys);
    if (!opened.ok) return refused(refusal('authentication_failed', opened.reason, ctx));
    const used = keys.find((k) => k.kid === opened.kid);
    if (used) {
      req.onResponseKey?.({
        macKey: deriveV2Keys(used.key).macKey,
        deviceId: env.deviceId,
        kid: opened.kid,
        nonce: opened.nonce,
      });
    }
    return withPlaintext(opened.plaintext, {
      nonce: opened.nonce,
      keyKid: opened.kid,
      protocol: 'v2',
      encrypted: env.iv !== undefined,
      claim: env.deviceId,
      generation: undefined,
    });
  }

  private openKey(stored: string): string {
    return this.config.vault ? this.config.vault.open(stored) : stored;
  }

  private v1Keys(k: { hmacKey: string; aesKey: string | null; iv: string | null }): V1Keys {
    return {
      hmacKey: Buffer.from(this.openKey(k.hmacKey), 'hex'),
      ...(k.aesKey ? { aesKey: Buffer.from(this.openKey(k.aesKey), 'hex') } : {}),
      ...(k.iv ? { iv: Buffer.from(this.openKey(k.iv), 'hex') } : {}),
    };
  }

  /**
   * Authenticates a device request other than an upload (`/changes`, commands …) exactly like an
   * upload: same envelope, same keys. The caller (control-request-guard.ts) applies the device's
   * policy, the fleet key's included, and advances the replay state with `Storage.acceptNonce`.
   */
  async authenticateRequest(req: DeviceRequest): Promise<AuthenticatedRequest> {
    const opened = await this.open(req);
    const deviceId = documentDeviceId(opened.inner as Record<string, unknown>);
    const mismatch = claimMismatch(opened, deviceId);
    if (mismatch) this.refusals.answer(req, mismatch);
    return {
      deviceId,
      document: opened.inner,
      nonce: opened.nonce,
      protocol: opened.protocol,
      encrypted: opened.encrypted,
      keyKid: opened.keyKid,
    };
  }

  private read<T>(load: () => Promise<T>): Promise<T> {
    return storageCall(this.log, 'storage read', load);
  }
}
