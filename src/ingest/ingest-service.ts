/**
 * An upload (`POST /process`, e84f720; `POST /aggregated/<id>`, 1.3) as one ordered list of named
 * stages (PROTOCOL.md §10.2), each in `stages/`: open the envelope, read the document, limit the
 * device's rate, decode the packets, commit, answer. A stage that refuses returns its refusal and
 * the upload ends there, told once by `Refusals` (a security event where it is one, then the
 * registered error code); a fault (database down) throws a 503 and nothing is stored.
 */
import type { FastifyBaseLogger as Logger } from 'fastify';
import type { DeviceAuthenticator, DeviceRequest } from '../devices/device-authenticator.js';
import type { Outcome, Refusals } from '../devices/refusals.js';
import type { Limiter } from '../http/rate-limit.js';
import type { SecurityEvents } from '../observability/security-events.js';
import type { Storage } from '../ports/storage.js';
import type { CommittedUpload, UploadFeed } from '../ports/upload-feed.js';
import { DecoderStates } from './decoder-states.js';
import { e84f720Decoder } from './e84f720-decoder.js';
import { gen13Decoder } from './gen13-decoder.js';
import type { GenerationDecoder, UploadHeader } from './generation-decoder.js';
import { type AnswerDeps, answerUpload, type IngestResponse } from './stages/answer-upload.js';
import { type CommitDeps, type CommitSettings, commitUpload } from './stages/commit-upload.js';
import {
  decodeUpload,
  limitDeviceRate,
  type OpenedUpload,
  openEnvelope,
  readDocument,
} from './stages/receive-upload.js';

export interface IngestConfig extends CommitSettings {
  pollIntervalMs: number;
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

export class IngestService implements UploadFeed {
  private readonly decoderStates: DecoderStates;
  private readonly committing: CommitDeps;
  private readonly answering: AnswerDeps;
  private readonly committedListeners: ((upload: CommittedUpload) => void)[] = [];

  constructor(
    storage: Storage,
    private readonly config: IngestConfig,
    private readonly authenticator: DeviceAuthenticator,
    private readonly refusals: Refusals,
    events: SecurityEvents,
    private readonly log: Logger,
  ) {
    this.decoderStates = new DecoderStates(storage, config.cacheDecoderState !== false, log);
    this.committing = { storage, events, log, settings: config };
    this.answering = { events, log, nonceGapEventThreshold: config.nonceGapEventThreshold };
  }

  /**
   * Called after every durable commit of an upload (wake the MQTT relay, push live updates,
   * observe a device's cadence). Listeners must be quick and must not throw.
   */
  onCommitted(listener: (upload: CommittedUpload) => void): void {
    this.committedListeners.push(listener);
  }

  /** The answer to an accepted upload; a refused one throws the ApiError the device is sent. */
  async process(req: IngestRequest): Promise<IngestResponse> {
    const outcome = await this.ingest(req);
    if (!outcome.ok) this.refusals.answer(req, outcome.refusal);
    return outcome.value;
  }

  private async ingest(req: IngestRequest): Promise<Outcome<IngestResponse>> {
    const opened = await openEnvelope(this.authenticator, req);
    if (!opened.ok) return opened;
    // Past this point only the document and its packets differ by generation.
    return opened.value.generation === '1.3'
      ? this.ingestAs(gen13Decoder, req, opened.value)
      : this.ingestAs(e84f720Decoder, req, opened.value);
  }

  private async ingestAs<D extends UploadHeader, S>(
    decoder: GenerationDecoder<D, S>,
    req: IngestRequest,
    opened: OpenedUpload,
  ): Promise<Outcome<IngestResponse>> {
    const read = readDocument(decoder, opened);
    if (!read.ok) return read;
    const upload = read.value;
    const deviceId = upload.doc.deviceId;

    const limited = await limitDeviceRate(this.config.deviceLimiter, deviceId);
    if (!limited.ok) return limited;

    const clock = { receivedAt: req.receivedAt, pollIntervalMs: this.config.pollIntervalMs };
    const decoded = await decodeUpload(decoder, this.decoderStates, upload, clock);

    const committed = await commitUpload(this.committing, req, upload, {
      generation: decoder.generation,
      initialHigh: decoder.initialHigh,
      packets: decoded.packets,
      decoderState: decoded.savedState,
    });
    if (!committed.ok) return committed;

    this.decoderStates.remember(deviceId, decoder.generation, decoded.state);
    this.announce({
      deviceId,
      uploadId: committed.value.uploadId,
      nonce: upload.nonce,
      receivedAt: req.receivedAt,
      deviceTimestamp: upload.doc.timestamp,
      generation: decoder.generation,
      registered: committed.value.registered,
      protocol: upload.protocol,
      nonceGap: Math.max(0, committed.value.gap),
      packets: decoded.packets,
      duplicatePackets: committed.value.duplicatePackets,
    });
    return { ok: true, value: answerUpload(this.answering, req, upload, decoded.packets, committed.value) };
  }

  /** One failing listener must not cost the device its answer: the upload is already durable. */
  private announce(committed: CommittedUpload): void {
    for (const listener of this.committedListeners) {
      try {
        listener(committed);
      } catch (err) {
        this.log.error({ err }, 'upload listener failed');
      }
    }
  }
}
