/**
 * Stage 5: commit (PROTOCOL.md §10.2 steps 7-8). The device's policy and replay check are decided
 * inside the storage transaction that stores the upload, on the device row it locks, so neither a
 * concurrent policy change nor a second copy of the upload can slip between check and store. A
 * refused commit stores nothing and becomes the upload's refusal; a failed one (database down)
 * throws the 503 `storage_unavailable`.
 */
import type { FastifyBaseLogger as Logger } from 'fastify';
import { type Outcome, type Refusal, type RequestFacts, refusal, refused } from '../../devices/refusals.js';
import { storageCall } from '../../http/storage-call.js';
import type { Generation } from '../../model/device.js';
import type { PolicyRejection } from '../../model/policy.js';
import type { ReplayMode } from '../../model/replay.js';
import type { SecurityEvents } from '../../observability/security-events.js';
import type { CommitOutcome, PacketRecord, Storage } from '../../ports/storage.js';
import { classifyCounterReset, counterResetAdvice } from '../counter-reset.js';
import type { UploadHeader } from '../generation-decoder.js';
import type { AuthenticatedUpload } from './receive-upload.js';

export interface CommitSettings {
  /** The policy of a device registered by this upload. */
  defaultAllowUnsecured: boolean;
  defaultReplayMode: ReplayMode;
  counterResetThreshold: number;
}

export interface CommitDeps {
  storage: Pick<Storage, 'commitUpload' | 'getDevice'>;
  events: SecurityEvents;
  log: Logger;
  settings: CommitSettings;
}

export interface CommitInput {
  generation: Generation;
  /** The replay state's high a device registered by this upload starts from. */
  initialHigh: number;
  packets: readonly PacketRecord[];
  decoderState: string;
}

export type CommittedOutcome = Extract<CommitOutcome, { ok: true }>;

const POLICY_REASONS: Record<PolicyRejection, string> = {
  device_disabled: 'device is disabled',
  v2_required: 'device must use protocol v2',
  encryption_required: 'plaintext envelope',
  unsecured_not_allowed: 'bare payload',
  fleet_key_not_allowed: 'device has keys of its own',
};

export async function commitUpload(
  deps: CommitDeps,
  req: RequestFacts,
  upload: AuthenticatedUpload<UploadHeader>,
  input: CommitInput,
): Promise<Outcome<CommittedOutcome>> {
  const deviceId = upload.doc.deviceId;
  const outcome = await storageCall(
    deps.log,
    'upload commit',
    () =>
      deps.storage.commitUpload({
        deviceId,
        registerWith: {
          allowUnsecured: deps.settings.defaultAllowUnsecured,
          requireEncryption: false,
          replay: deps.settings.defaultReplayMode,
        },
        nonce: upload.nonce,
        counterResetThreshold: deps.settings.counterResetThreshold,
        initialHigh: input.initialHigh,
        keyKid: upload.keyKid,
        protocol: upload.protocol,
        generation: input.generation,
        encrypted: upload.encrypted,
        receivedAt: req.receivedAt,
        source: req.source,
        requestId: req.requestId,
        deviceTimestamp: upload.doc.timestamp,
        packets: input.packets,
        decoderState: input.decoderState,
      }),
    { device: deviceId },
  );
  if (outcome.ok) return { ok: true, value: outcome };
  return refused(await commitRefusal(deps, req, upload, outcome, input.generation));
}

/** Which rule refused the commit was the store's decision; this is only how the device is told. */
async function commitRefusal(
  deps: CommitDeps,
  req: RequestFacts,
  upload: AuthenticatedUpload<UploadHeader>,
  outcome: Exclude<CommitOutcome, { ok: true }>,
  generation: Generation,
): Promise<Refusal> {
  const deviceId = upload.doc.deviceId;
  const ctx = { deviceId, nonce: upload.nonce };
  if (outcome.code === 'policy') {
    // The fleet key is public knowledge: a device with keys of its own that uses it is not
    // authenticated, whatever else its policy says.
    if (outcome.reason === 'fleet_key_not_allowed')
      return refusal('authentication_failed', outcome.reason, ctx);
    return refusal(outcome.reason, POLICY_REASONS[outcome.reason], ctx);
  }
  if (outcome.reason === 'counter_reset_suspected' && upload.nonce !== null) {
    await recordCounterReset(deps, req, deviceId, upload.nonce, outcome.high, generation);
  }
  return refusal('replayed_nonce', outcome.reason, { ...ctx, detail: { high: outcome.high } });
}

/**
 * An authentic nonce far below the highest accepted: the device lost its counter (NVS wiped),
 * the counter wrapped past 2^32−1, or two units report one id. The event names the likely cause
 * and how to re-arm; the upload itself stays refused (a replay is never accepted silently).
 */
async function recordCounterReset(
  deps: CommitDeps,
  req: RequestFacts,
  deviceId: string,
  nonce: number,
  high: number | null,
  generation: Generation,
): Promise<void> {
  // Only the cause's wording needs the device; a failed read must not turn the refusal into a 503.
  const device = await deps.storage.getDevice(deviceId).catch(() => undefined);
  const lastSource = device?.lastAuthSource ?? null;
  const cause = classifyCounterReset({ generation, nonce, high, source: req.source, lastSource });
  const base = { time: req.receivedAt, deviceId, source: req.source, nonce, requestId: req.requestId };
  const detail = { cause, high, generation, authenticated_source: lastSource };
  deps.events.record({
    ...base,
    code: 'counter_reset_suspected',
    reason: counterResetAdvice(cause, deviceId, nonce, high),
    detail,
  });
  if (cause === 'id_collision') {
    deps.events.record({
      ...base,
      code: 'device_id_collision',
      reason: `two units report the id ${deviceId}: nonce ${nonce} from ${req.source}, far below ${high} last accepted from ${lastSource}; give each unit its own id`,
      detail,
    });
  }
}
