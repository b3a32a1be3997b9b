/**
 * `POST /process` as one ordered list of named stages (PROTOCOL.md §10.2): classify the body,
 * authenticate it, read the document, apply the device's policy, decode the packets, then commit
 * the upload together with the replay-state advance. An expected rejection is an ApiError with a
 * registered code and a security event; a fault (database down) is a 503 and nothing is stored.
 */
import type { FastifyBaseLogger as Logger } from 'fastify';
import { DEVICE_ID_PATTERN, type Device, type DevicePolicy, FIELD_INITIAL_HIGH } from '../devices/device.js';
import type { KeyVault } from '../devices/key-vault.js';
import { ApiError, type ErrorCode } from '../errors.js';
import type { Limiter } from '../http/rate-limit.js';
import { rememberResponseKey } from '../http/v2-response-signing.js';
import type {
  CommitOutcome,
  PacketRecord,
  SecurityEvent,
  Storage,
  UploadCommit,
  UploadProtocol,
} from '../ports/storage.js';
import { DictionaryMirror } from '../protocol/codecs/dictionary-mirror.js';
import { isEnvelopeAttempt, openV1, parseV1Envelope, type V1Keys } from '../protocol/envelope-v1.js';
import { deriveV2Keys, isV2Envelope, openV2, parseV2Envelope } from '../protocol/envelope-v2.js';
import type { Mode, ReplayMode } from '../settings.js';
import { decodePackets } from './decode-packets.js';
import { storageCall } from './storage-call.js';
import { parseUploadDocument, type UploadDocument } from './upload-document.js';
import type { PolicyRejection } from './upload-policy.js';

export interface IngestConfig {
  mode: Mode;
  fleetKeys: V1Keys;
  pollIntervalMs: number;
  defaultAllowUnsecured: boolean;
  defaultReplayMode: ReplayMode;
  counterResetThreshold: number;
  nonceGapEventThreshold: number;
  /** Opens the device keys sealed at rest. */
  vault?: KeyVault;
  /**
   * Keep devices' decoder state in memory (one process owns the store). Off when several
   * instances share the database: each upload then reads the state the last one stored.
   */
  cacheDecoderState?: boolean;
  /** Per-device rate limit, applied once the device is authenticated. */
  deviceLimiter?: Limiter;
}

export interface IngestRequest {
  body: unknown;
  /** The framework's request object: answers to a v2 request are signed against it. */
  replyToken?: object;
  /** `X-Device-Id` header, if sent. */
  claimedDeviceId: string | undefined;
  source: string;
  requestId: string;
  receivedAt: number;
}

/** An upload just made durable, as told to `onCommitted` listeners. */
export interface CommittedUpload {
  deviceId: string;
  uploadId: string;
  nonce: number | null;
  receivedAt: number;
  /** The upload's `timestamp` (device millis since boot), if it said. */
  deviceTimestamp: number | null;
  /** The device was registered by this upload. */
  registered: boolean;
  protocol: UploadProtocol;
  /** Uploads between the previous accepted nonce and this one that never arrived. */
  nonceGap: number;
  packets: readonly PacketRecord[];
  duplicatePackets: readonly number[];
}

export interface PacketSummary {
  index: number;
  method: string | null;
  label: string | null;
  status: 'decoded' | 'quarantined' | 'duplicate';
  quality: Record<string, number>;
}

export interface IngestResponse {
  status: 'success';
  device_id: string;
  upload_id: string;
  nonce: number | null;
  packets: number;
  samples: number;
  readings: number;
  duplicate_packets: number;
  nonce_gap: number;
  quarantined: { index: number; reason: string }[];
  packet_summary: PacketSummary[];
}

interface OpenedRequest {
  inner: unknown;
  nonce: number | null;
  keyKid: string | null;
  protocol: 'v1' | 'v2' | 'unsecured';
  encrypted: boolean;
  /** The device the request names outside the MAC (`X-Device-Id`, envelope `device_id`). */
  claim: string | undefined;
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

interface Authenticated {
  doc: UploadDocument;
  nonce: number | null;
  keyKid: string | null;
  protocol: UploadProtocol;
  encrypted: boolean;
}

/** What the field documentation says for each rejection (development mode only). */
const FIELD_MESSAGES: Partial<Record<ErrorCode, string>> = {
  replayed_nonce: 'Replay attack detected',
  authentication_failed: 'HMAC verification failed',
};

const POLICY_REASONS: Record<PolicyRejection, string> = {
  device_disabled: 'device is disabled',
  v2_required: 'device must use protocol v2',
  encryption_required: 'plaintext envelope',
  unsecured_not_allowed: 'bare payload',
  fleet_key_not_allowed: 'device has keys of its own',
};

/** Devices whose mirrored dictionary stays in memory (others are read back from storage). */
const MIRROR_CACHE_SIZE = 50_000;

const activeKeys = (d: Device | undefined) => (d ? d.keys.filter((k) => k.status === 'active') : []);

export class IngestService {
  private readonly mirrors = new Map<string, DictionaryMirror>();
  private readonly committedListeners: ((upload: CommittedUpload) => void)[] = [];
  private readonly eventListeners: ((event: SecurityEvent) => void)[] = [];

  constructor(
    private readonly storage: Storage,
    private readonly config: IngestConfig,
    private readonly log: Logger,
  ) {}

  /**
   * Called after every durable commit of an upload (wake the MQTT relay, push live updates,
   * observe a device's cadence). Listeners must be quick and must not throw.
   */
  onCommitted(listener: (upload: CommittedUpload) => void): void {
    this.committedListeners.push(listener);
  }

  /** Called for every security event this service records (live feeds). Quick, must not throw. */
  onSecurityEvent(listener: (event: SecurityEvent) => void): void {
    this.eventListeners.push(listener);
  }

  private recordEvent(event: SecurityEvent): void {
    this.storage.recordSecurityEvent(event);
    for (const listener of this.eventListeners) {
      try {
        listener(event);
      } catch (err) {
        this.log.error({ err }, 'security event listener failed');
      }
    }
  }

  private get registrationPolicy(): DevicePolicy {
    return {
      allowUnsecured: this.config.defaultAllowUnsecured,
      requireEncryption: false,
      replay: this.config.defaultReplayMode,
    };
  }

  async process(req: IngestRequest): Promise<IngestResponse> {
    const auth = await this.authenticate(req);
    await this.config.deviceLimiter?.take(auth.doc.deviceId);
    const mirror = await this.mirrorFor(auth.doc.deviceId);
    const packets = decodePackets(auth.doc.deviceId, auth.doc, {
      receivedAt: req.receivedAt,
      pollIntervalMs: this.config.pollIntervalMs,
      mirror,
    });
    const outcome = await this.commit(req, auth, packets, mirror);
    if (outcome.ok) this.rememberMirror(auth.doc.deviceId, mirror);
    if (outcome.ok && this.committedListeners.length > 0) {
      const committed: CommittedUpload = {
        deviceId: auth.doc.deviceId,
        uploadId: outcome.uploadId,
        nonce: auth.nonce,
        receivedAt: req.receivedAt,
        deviceTimestamp: auth.doc.timestamp,
        registered: outcome.registered,
        protocol: auth.protocol,
        nonceGap: Math.max(0, outcome.gap),
        packets,
        duplicatePackets: outcome.duplicatePackets,
      };
      for (const listener of this.committedListeners) {
        try {
          listener(committed);
        } catch (err) {
          this.log.error({ err }, 'upload listener failed');
        }
      }
    }
    return this.respond(req, auth, packets, outcome);
  }

  private reject(
    req: IngestRequest,
    code: ErrorCode,
    reason: string,
    ctx: { deviceId?: string | null; nonce?: number | null; detail?: Record<string, unknown> } = {},
  ): never {
    const deviceId = ctx.deviceId ?? null;
    const event = {
      time: req.receivedAt,
      deviceId,
      code,
      reason,
      source: req.source,
      nonce: ctx.nonce ?? null,
      requestId: req.requestId,
      ...(ctx.detail ? { detail: ctx.detail } : {}),
    };
    this.recordEvent(event);
    if (deviceId !== null) this.storage.countReject(deviceId, code);
    this.log.warn({
      event: 'security',
      device: deviceId,
      code,
      reason,
      source: req.source,
      nonce: event.nonce,
    });
    const fieldMessage = FIELD_MESSAGES[code];
    const message =
      this.config.mode === 'development' && fieldMessage ? `${fieldMessage} (${reason})` : undefined;
    throw new ApiError(code, message);
  }

  /** Opens an envelope (or takes a bare body as it is): authentication only, no policy. */
  private async open(req: IngestRequest): Promise<OpenedRequest> {
    const body = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new ApiError('malformed_payload', 'The body must be a JSON object: an envelope or a document.');
    }
    if (!isEnvelopeAttempt(body)) {
      // Whether this device may send bare requests is its policy's business, decided later.
      return {
        inner: body,
        nonce: null,
        keyKid: null,
        protocol: 'unsecured',
        encrypted: false,
        claim: undefined,
      };
    }
    if (isV2Envelope(body)) return this.openV2(req, body);
    const parsed = parseV1Envelope(body);
    if (!parsed.ok) this.reject(req, parsed.code, parsed.message, { deviceId: req.claimedDeviceId ?? null });
    const env = parsed.envelope;
    const claim = req.claimedDeviceId ?? env.deviceId;
    const claimed = claim !== undefined ? await this.read(() => this.storage.getDevice(claim)) : undefined;
    const own = activeKeys(claimed).filter((k) => k.kind === 'v1');
    const keyring = own.map((k) => ({ kid: k.kid, keys: this.v1Keys(k) }));
    const keys = keyring.length > 0 ? keyring.map((k) => k.keys) : [this.config.fleetKeys];

    const opened = openV1(env, keys);
    if (!opened.ok) {
      this.reject(req, 'authentication_failed', opened.reason, {
        deviceId: claimed?.id ?? null,
        nonce: env.nonce,
      });
    }
    let inner: unknown;
    try {
      inner = JSON.parse(opened.plaintext.toString('utf8'));
    } catch {
      throw new ApiError('malformed_payload', 'The authenticated payload is not valid JSON.');
    }
    return {
      inner,
      nonce: opened.nonce,
      keyKid: keyring.length > 0 ? keyring[opened.keyIndex].kid : null,
      protocol: 'v1',
      encrypted: env.encrypted,
      claim,
    };
  }

  /** Protocol v2 (§11): the device and key are named in the MAC, verified before decryption. */
  private async openV2(req: IngestRequest, body: object): Promise<OpenedRequest> {
    const parsed = parseV2Envelope(body);
    if (!parsed.ok) this.reject(req, parsed.code, parsed.message, { deviceId: req.claimedDeviceId ?? null });
    const env = parsed.envelope;
    const device = await this.read(() => this.storage.getDevice(env.deviceId));
    const keys = activeKeys(device)
      .filter((k) => k.kind === 'v2')
      .map((k) => ({ kid: k.kid, key: Buffer.from(this.openKey(k.hmacKey), 'hex') }));
    const ctx = { deviceId: device?.id ?? null, nonce: env.nonce };
    if (keys.length === 0) this.reject(req, 'authentication_failed', 'no_v2_key', ctx);
    const opened = openV2(env, keys);
    if (!opened.ok) this.reject(req, 'authentication_failed', opened.reason, ctx);
    const used = keys.find((k) => k.kid === opened.kid);
    if (used) {
      rememberResponseKey(req.replyToken, {
        macKey: deriveV2Keys(used.key).macKey,
        deviceId: env.deviceId,
        kid: opened.kid,
        nonce: opened.nonce,
      });
    }
    let inner: unknown;
    try {
      inner = JSON.parse(opened.plaintext.toString('utf8'));
    } catch {
      throw new ApiError('malformed_payload', 'The authenticated payload is not valid JSON.');
    }
    return {
      inner,
      nonce: opened.nonce,
      keyKid: opened.kid,
      protocol: 'v2',
      encrypted: env.iv !== undefined,
      claim: env.deviceId,
    };
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

  private checkClaim(req: IngestRequest, opened: OpenedRequest, deviceId: string): void {
    if (opened.claim !== undefined && opened.claim !== deviceId) {
      this.reject(req, 'authentication_failed', 'device_id_mismatch', {
        deviceId: opened.claim,
        nonce: opened.nonce,
        detail: { claimed: opened.claim, inner: deviceId },
      });
    }
  }

  private async authenticate(req: IngestRequest): Promise<Authenticated> {
    const opened = await this.open(req);
    const doc = parseUploadDocument(opened.inner);
    if (!doc.ok) throw new ApiError('malformed_payload', doc.message);
    this.checkClaim(req, opened, doc.doc.deviceId);
    return {
      doc: doc.doc,
      nonce: opened.nonce,
      keyKid: opened.keyKid,
      protocol: opened.protocol,
      encrypted: opened.encrypted,
    };
  }

  /**
   * Authenticates a device request other than an upload (`/changes`, commands …) exactly like an
   * upload: same envelope, same keys. The caller advances the replay state with
   * `Storage.acceptNonce` and applies its own policy to unsecured requests.
   */
  async authenticateRequest(req: IngestRequest): Promise<AuthenticatedRequest> {
    const opened = await this.open(req);
    const inner = opened.inner as Record<string, unknown>;
    const deviceId = inner.device_id;
    if (typeof deviceId !== 'string' || !DEVICE_ID_PATTERN.test(deviceId)) {
      throw new ApiError('malformed_payload', 'device_id must be 1-128 letters, digits or _.:- characters');
    }
    this.checkClaim(req, opened, deviceId);
    if (opened.protocol === 'v1' && opened.keyKid === null) {
      const device = await this.read(() => this.storage.getDevice(deviceId));
      if (activeKeys(device).length > 0) {
        this.reject(req, 'authentication_failed', 'fleet_key_not_allowed', { deviceId, nonce: opened.nonce });
      }
    }
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

  /**
   * The device's mirrored dictionary, as a copy this upload may change: it is kept (cache and
   * storage) only if the upload is accepted.
   */
  private async mirrorFor(deviceId: string): Promise<DictionaryMirror> {
    let known = this.config.cacheDecoderState === false ? undefined : this.mirrors.get(deviceId);
    if (!known) {
      known = DictionaryMirror.fromJSON(
        (await this.read(async () => this.storage.loadDecoderState?.(deviceId))) ?? null,
      );
    }
    return known.clone();
  }

  private rememberMirror(deviceId: string, mirror: DictionaryMirror): void {
    if (this.config.cacheDecoderState === false) return;
    // Refreshing the entry keeps recently active devices at the end; the oldest go first.
    this.mirrors.delete(deviceId);
    this.mirrors.set(deviceId, mirror);
    if (this.mirrors.size > MIRROR_CACHE_SIZE) {
      const oldest = this.mirrors.keys().next().value;
      if (oldest !== undefined) this.mirrors.delete(oldest);
    }
  }

  private async commit(
    req: IngestRequest,
    auth: Authenticated,
    packets: PacketRecord[],
    mirror: DictionaryMirror,
  ): Promise<CommitOutcome> {
    const commit: UploadCommit = {
      deviceId: auth.doc.deviceId,
      registerWith: this.registrationPolicy,
      nonce: auth.nonce,
      counterResetThreshold: this.config.counterResetThreshold,
      initialHigh: FIELD_INITIAL_HIGH,
      keyKid: auth.keyKid,
      protocol: auth.protocol,
      encrypted: auth.encrypted,
      receivedAt: req.receivedAt,
      source: req.source,
      requestId: req.requestId,
      deviceTimestamp: auth.doc.timestamp,
      packets,
      decoderState: mirror.toJSON(),
    };
    return storageCall(this.log, 'upload commit', () => this.storage.commitUpload(commit), {
      device: commit.deviceId,
    });
  }

  private respond(
    req: IngestRequest,
    auth: Authenticated,
    packets: PacketRecord[],
    outcome: CommitOutcome,
  ): IngestResponse {
    const deviceId = auth.doc.deviceId;
    if (!outcome.ok) {
      if (outcome.code === 'policy') {
        const ctx = { deviceId, nonce: auth.nonce };
        if (outcome.reason === 'fleet_key_not_allowed')
          this.reject(req, 'authentication_failed', outcome.reason, ctx);
        this.reject(req, outcome.reason, POLICY_REASONS[outcome.reason], ctx);
      }
      const reason = outcome.reason;
      if (reason === 'counter_reset_suspected') {
        this.recordEvent({
          time: req.receivedAt,
          deviceId,
          code: 'counter_reset_suspected',
          reason: `authentic nonce ${auth.nonce} far below the last accepted ${outcome.high}; re-arm with replay-reset`,
          source: req.source,
          nonce: auth.nonce,
          requestId: req.requestId,
        });
      }
      this.reject(req, 'replayed_nonce', reason, {
        deviceId,
        nonce: auth.nonce,
        detail: { high: outcome.high },
      });
    }
    const quarantined = packets.filter((p) => p.status === 'quarantined');
    for (const p of quarantined) {
      this.recordEvent({
        time: req.receivedAt,
        deviceId,
        code: 'packet_quarantined',
        reason: p.reason ?? 'undecodable',
        source: req.source,
        nonce: auth.nonce,
        requestId: req.requestId,
        detail: { upload: outcome.uploadId, packet: p.index },
      });
    }
    if (outcome.gap >= this.config.nonceGapEventThreshold) {
      this.recordEvent({
        time: req.receivedAt,
        deviceId,
        code: 'nonce_gap',
        reason: `${outcome.gap} uploads between the last accepted nonce and ${auth.nonce} never arrived`,
        source: req.source,
        nonce: auth.nonce,
        requestId: req.requestId,
      });
    }
    this.log.info({
      event: 'upload',
      device: deviceId,
      upload: outcome.uploadId,
      nonce: auth.nonce,
      packets: packets.length,
      readings: outcome.readingsStored,
    });
    const duplicates = new Set(outcome.duplicatePackets);
    return {
      status: 'success',
      device_id: deviceId,
      upload_id: outcome.uploadId,
      nonce: auth.nonce,
      packets: packets.length,
      samples: outcome.samplesStored,
      readings: outcome.readingsStored,
      duplicate_packets: outcome.duplicatePackets.length,
      nonce_gap: Math.max(0, outcome.gap),
      quarantined: quarantined.map((p) => ({ index: p.index, reason: p.reason ?? 'undecodable' })),
      packet_summary: packets.map((p) => summarise(p, duplicates.has(p.index))),
    };
  }
}

function summarise(p: PacketRecord, duplicate: boolean): PacketSummary {
  const quality: Record<string, number> = {};
  for (const q of p.block?.quality ?? []) quality[q] = (quality[q] ?? 0) + 1;
  const status = duplicate ? 'duplicate' : p.status;
  return { index: p.index, method: p.method, label: p.label, status, quality };
}
