/**
 * `POST /process` as one ordered list of named stages (PROTOCOL.md §10.2): classify the body,
 * authenticate it, read the document, apply the device's policy, decode the packets, then commit
 * the upload together with the replay-state advance. An expected rejection is an ApiError with a
 * registered code and a security event; a fault (database down) is a 503 and nothing is stored.
 */
import type { FastifyBaseLogger as Logger } from 'fastify';
import type { KeyVault } from '../devices/key-vault.js';
import { ApiError, type ErrorCode } from '../errors.js';
import type { Limiter } from '../http/rate-limit.js';
import { rememberResponseKey } from '../http/v2-response-signing.js';
import { DEVICE_ID_PATTERN, type Device, type DevicePolicy, type Generation } from '../model/device.js';
import type { PolicyRejection } from '../model/policy.js';
import type { ReplayMode } from '../model/replay.js';
import type { SecurityEvents } from '../observability/security-events.js';
import type {
  CommitOutcome,
  PacketRecord,
  SecurityEvent,
  Storage,
  UploadCommit,
  UploadProtocol,
} from '../ports/storage.js';
import { isEnvelopeAttempt, openV1, parseV1Envelope, type V1Keys } from '../protocol/envelope-v1.js';
import { deriveV2Keys, isV2Envelope, openV2, parseV2Envelope } from '../protocol/envelope-v2.js';
import type { Mode } from '../settings.js';
import { classifyCounterReset, counterResetAdvice } from './counter-reset.js';
import { e84f720Decoder } from './e84f720-decoder.js';
import { gen13Decoder } from './gen13-decoder.js';
import type { GenerationDecoder, UploadHeader } from './generation-decoder.js';
import { storageCall } from './storage-call.js';

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
  /** The generation whose route carries the request; otherwise told by the envelope's keys. */
  generation?: Generation;
}

/** An upload just made durable, as told to `onCommitted` listeners. */
export interface CommittedUpload {
  deviceId: string;
  uploadId: string;
  nonce: number | null;
  receivedAt: number;
  /** The upload's `timestamp` (e84f720: device millis since boot; 1.3: unix seconds), if it said. */
  deviceTimestamp: number | null;
  generation: Generation;
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

interface Authenticated<D extends UploadHeader> {
  doc: D;
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

/** Devices whose decoder state stays in memory (others are read back from storage). */
const DECODER_CACHE_SIZE = 50_000;

const activeKeys = (d: Device | undefined) => (d ? d.keys.filter((k) => k.status === 'active') : []);

export class IngestService {
  /** Per device: the decoder state of its generation after its last accepted upload. */
  private readonly decoderStates = new Map<string, { generation: Generation; state: unknown }>();
  private readonly committedListeners: ((upload: CommittedUpload) => void)[] = [];

  constructor(
    private readonly storage: Storage,
    private readonly config: IngestConfig,
    private readonly events: SecurityEvents,
    private readonly log: Logger,
  ) {}

  /**
   * Called after every durable commit of an upload (wake the MQTT relay, push live updates,
   * observe a device's cadence). Listeners must be quick and must not throw.
   */
  onCommitted(listener: (upload: CommittedUpload) => void): void {
    this.committedListeners.push(listener);
  }

  private recordEvent(event: SecurityEvent): void {
    this.events.record(event);
  }

  private get registrationPolicy(): DevicePolicy {
    return {
      allowUnsecured: this.config.defaultAllowUnsecured,
      requireEncryption: false,
      replay: this.config.defaultReplayMode,
    };
  }

  async process(req: IngestRequest): Promise<IngestResponse> {
    const opened = await this.open(req);
    const generation = req.generation ?? opened.generation ?? 'e84f720';
    return generation === '1.3'
      ? this.ingest(req, opened, gen13Decoder)
      : this.ingest(req, opened, e84f720Decoder);
  }

  /** The stages after authentication, with the generation's document and packet decoding. */
  private async ingest<D extends UploadHeader, S>(
    req: IngestRequest,
    opened: OpenedRequest,
    decoder: GenerationDecoder<D, S>,
  ): Promise<IngestResponse> {
    const auth = this.readDocument(req, opened, decoder);
    const deviceId = auth.doc.deviceId;
    await this.config.deviceLimiter?.take(deviceId);
    const state = await this.decoderStateFor(decoder, deviceId);
    const packets = decoder.decode(
      deviceId,
      auth.doc,
      { receivedAt: req.receivedAt, pollIntervalMs: this.config.pollIntervalMs },
      state,
    );
    const outcome = await this.commit(req, auth, packets, decoder, decoder.saveState(state));
    if (outcome.ok) this.rememberDecoderState(deviceId, decoder.generation, state);
    if (outcome.ok && this.committedListeners.length > 0) {
      const committed: CommittedUpload = {
        deviceId,
        uploadId: outcome.uploadId,
        nonce: auth.nonce,
        receivedAt: req.receivedAt,
        deviceTimestamp: auth.doc.timestamp,
        generation: decoder.generation,
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
    return this.respond(req, auth, packets, outcome, decoder.generation);
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
    this.events.refused(event);
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
        claim: req.claimedDeviceId,
        generation: undefined,
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
      generation: 'compressed' in body ? '1.3' : undefined,
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
      generation: undefined,
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

  private readDocument<D extends UploadHeader, S>(
    req: IngestRequest,
    opened: OpenedRequest,
    decoder: GenerationDecoder<D, S>,
  ): Authenticated<D> {
    const doc = decoder.parse(opened.inner);
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
   * The device's decoder state (e84f720: its mirrored dictionary; 1.3: its temporal history), as a
   * copy this upload may change: it is kept (cache and storage) only if the upload is accepted.
   */
  private async decoderStateFor<D extends UploadHeader, S>(
    decoder: GenerationDecoder<D, S>,
    deviceId: string,
  ): Promise<S> {
    const cached = this.config.cacheDecoderState === false ? undefined : this.decoderStates.get(deviceId);
    // The entry was stored by this same decoder (same generation), so it holds an S.
    if (cached?.generation === decoder.generation) return decoder.cloneState(cached.state as S);
    const stored = await this.read(async () => this.storage.loadDecoderState?.(deviceId));
    return decoder.loadState(stored ?? null);
  }

  private rememberDecoderState(deviceId: string, generation: Generation, state: unknown): void {
    if (this.config.cacheDecoderState === false) return;
    // Refreshing the entry keeps recently active devices at the end; the oldest go first.
    this.decoderStates.delete(deviceId);
    this.decoderStates.set(deviceId, { generation, state });
    if (this.decoderStates.size > DECODER_CACHE_SIZE) {
      const oldest = this.decoderStates.keys().next().value;
      if (oldest !== undefined) this.decoderStates.delete(oldest);
    }
  }

  private async commit<D extends UploadHeader, S>(
    req: IngestRequest,
    auth: Authenticated<D>,
    packets: PacketRecord[],
    decoder: GenerationDecoder<D, S>,
    decoderState: string,
  ): Promise<CommitOutcome> {
    const commit: UploadCommit = {
      deviceId: auth.doc.deviceId,
      registerWith: this.registrationPolicy,
      nonce: auth.nonce,
      counterResetThreshold: this.config.counterResetThreshold,
      initialHigh: decoder.initialHigh,
      keyKid: auth.keyKid,
      protocol: auth.protocol,
      generation: decoder.generation,
      encrypted: auth.encrypted,
      receivedAt: req.receivedAt,
      source: req.source,
      requestId: req.requestId,
      deviceTimestamp: auth.doc.timestamp,
      packets,
      decoderState,
    };
    return storageCall(this.log, 'upload commit', () => this.storage.commitUpload(commit), {
      device: commit.deviceId,
    });
  }

  /**
   * An authentic nonce far below the highest accepted: the device lost its counter (NVS wiped),
   * the counter wrapped past 2^32−1, or two units report one id. The event names the likely cause
   * and how to re-arm; the upload itself stays refused (a replay is never accepted silently).
   */
  private async counterReset(
    req: IngestRequest,
    deviceId: string,
    nonce: number,
    high: number | null,
    generation: Generation,
  ): Promise<void> {
    const device = await this.storage.getDevice(deviceId).catch(() => undefined);
    const lastSource = device?.lastAuthSource ?? null;
    const cause = classifyCounterReset({ generation, nonce, high, source: req.source, lastSource });
    const base = { time: req.receivedAt, deviceId, source: req.source, nonce, requestId: req.requestId };
    const detail = { cause, high, generation, authenticated_source: lastSource };
    this.recordEvent({
      ...base,
      code: 'counter_reset_suspected',
      reason: counterResetAdvice(cause, deviceId, nonce, high),
      detail,
    });
    if (cause === 'id_collision') {
      this.recordEvent({
        ...base,
        code: 'device_id_collision',
        reason: `two units report the id ${deviceId}: nonce ${nonce} from ${req.source}, far below ${high} last accepted from ${lastSource}; give each unit its own id`,
        detail,
      });
    }
  }

  private async respond<D extends UploadHeader>(
    req: IngestRequest,
    auth: Authenticated<D>,
    packets: PacketRecord[],
    outcome: CommitOutcome,
    generation: Generation,
  ): Promise<IngestResponse> {
    const deviceId = auth.doc.deviceId;
    if (!outcome.ok) {
      if (outcome.code === 'policy') {
        const ctx = { deviceId, nonce: auth.nonce };
        if (outcome.reason === 'fleet_key_not_allowed')
          this.reject(req, 'authentication_failed', outcome.reason, ctx);
        this.reject(req, outcome.reason, POLICY_REASONS[outcome.reason], ctx);
      }
      const reason = outcome.reason;
      if (reason === 'counter_reset_suspected' && auth.nonce !== null) {
        await this.counterReset(req, deviceId, auth.nonce, outcome.high, generation);
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
