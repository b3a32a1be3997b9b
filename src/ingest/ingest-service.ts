/**
 * An upload (`POST /process`, e84f720; `POST /aggregated/<id>`, 1.3) as one ordered list of named
 * stages (PROTOCOL.md §10.2): authenticate (DeviceAuthenticator), read the generation's document,
 * limit the device's rate, decode its packets (the generation's decoder), commit them with the
 * replay-state advance, answer. An expected refusal is an ApiError with a registered code and one
 * security event (Refusals); a fault (database down) is a 503 and nothing is stored.
 */
import type { FastifyBaseLogger as Logger } from 'fastify';
import type { DeviceAuthenticator, DeviceRequest, OpenedRequest } from '../devices/device-authenticator.js';
import type { Refusals } from '../devices/refusals.js';
import { ApiError } from '../errors.js';
import type { Limiter } from '../http/rate-limit.js';
import type { DevicePolicy, Generation } from '../model/device.js';
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
import { classifyCounterReset, counterResetAdvice } from './counter-reset.js';
import { e84f720Decoder } from './e84f720-decoder.js';
import { gen13Decoder } from './gen13-decoder.js';
import type { GenerationDecoder, UploadHeader } from './generation-decoder.js';
import { storageCall } from './storage-call.js';

export interface IngestConfig {
  pollIntervalMs: number;
  defaultAllowUnsecured: boolean;
  defaultReplayMode: ReplayMode;
  counterResetThreshold: number;
  nonceGapEventThreshold: number;
  /**
   * Keep devices' decoder state in memory (one process owns the store). Off when several
   * instances share the database: each upload then reads the state the last one stored.
   */
  cacheDecoderState?: boolean;
  /** Per-device rate limit, applied once the device is authenticated. */
  deviceLimiter?: Limiter;
}

/** An upload as the device routes hand it on. */
export type IngestRequest = DeviceRequest;

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

interface Authenticated<D extends UploadHeader> {
  doc: D;
  nonce: number | null;
  keyKid: string | null;
  protocol: UploadProtocol;
  encrypted: boolean;
}

const POLICY_REASONS: Record<PolicyRejection, string> = {
  device_disabled: 'device is disabled',
  v2_required: 'device must use protocol v2',
  encryption_required: 'plaintext envelope',
  unsecured_not_allowed: 'bare payload',
  fleet_key_not_allowed: 'device has keys of its own',
};

/** Devices whose decoder state stays in memory (others are read back from storage). */
const DECODER_CACHE_SIZE = 50_000;

export class IngestService {
  /** Per device: the decoder state of its generation after its last accepted upload. */
  private readonly decoderStates = new Map<string, { generation: Generation; state: unknown }>();
  private readonly committedListeners: ((upload: CommittedUpload) => void)[] = [];

  constructor(
    private readonly storage: Storage,
    private readonly config: IngestConfig,
    private readonly authenticator: DeviceAuthenticator,
    private readonly refusals: Refusals,
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
    const opened = await this.authenticator.open(req);
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
    if (outcome.ok) {
      this.rememberDecoderState(deviceId, decoder.generation, state);
      this.announce({
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
      });
    }
    return this.respond(req, auth, packets, outcome, decoder.generation);
  }

  /** Tells the listeners (MQTT relay, metrics, dashboard) of an upload now durable. */
  private announce(committed: CommittedUpload): void {
    for (const listener of this.committedListeners) {
      try {
        listener(committed);
      } catch (err) {
        this.log.error({ err }, 'upload listener failed');
      }
    }
  }

  private readDocument<D extends UploadHeader, S>(
    req: IngestRequest,
    opened: OpenedRequest,
    decoder: GenerationDecoder<D, S>,
  ): Authenticated<D> {
    const doc = decoder.parse(opened.inner);
    if (!doc.ok) throw new ApiError('malformed_payload', doc.message);
    this.authenticator.checkClaim(req, opened, doc.doc.deviceId);
    return {
      doc: doc.doc,
      nonce: opened.nonce,
      keyKid: opened.keyKid,
      protocol: opened.protocol,
      encrypted: opened.encrypted,
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
          this.refusals.refuse(req, 'authentication_failed', outcome.reason, ctx);
        this.refusals.refuse(req, outcome.reason, POLICY_REASONS[outcome.reason], ctx);
      }
      const reason = outcome.reason;
      if (reason === 'counter_reset_suspected' && auth.nonce !== null) {
        await this.counterReset(req, deviceId, auth.nonce, outcome.high, generation);
      }
      this.refusals.refuse(req, 'replayed_nonce', reason, {
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
