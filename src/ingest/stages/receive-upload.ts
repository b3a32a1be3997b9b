/**
 * The stages before the commit, in the order the upload passes them: open the envelope, read the
 * document, take the device's rate-limit token, decode the packets. Each returns an outcome; only
 * a fault (not a refusal) is thrown.
 */
import {
  claimMismatch,
  type DeviceAuthenticator,
  type DeviceRequest,
  type OpenedRequest,
} from '../../devices/device-authenticator.js';
import { type Outcome, quietRefusal, refused } from '../../devices/refusals.js';
import type { Limiter } from '../../http/rate-limit.js';
import type { Generation } from '../../model/device.js';
import { ApiError } from '../../model/errors.js';
import type { PacketRecord, UploadProtocol } from '../../ports/storage.js';
import type { DecoderStates } from '../decoder-states.js';
import type { DecodeClock, GenerationDecoder, UploadHeader } from '../generation-decoder.js';

// Stage 1: open the envelope and verify its MAC (PROTOCOL.md §10.2 steps 1-6), with the keys the
// request names (the device's own, else the fleet key). The device authenticator does it because
// control requests are opened exactly alike; this stage adds which generation the upload is.
export interface OpenedUpload extends OpenedRequest {
  generation: Generation;
}

export async function openEnvelope(
  authenticator: Pick<DeviceAuthenticator, 'openEnvelope'>,
  req: DeviceRequest,
): Promise<Outcome<OpenedUpload>> {
  const opened = await authenticator.openEnvelope(req);
  if (!opened.ok) return opened;
  // `/process` carries both generations: a 1.3 upload there is told only by its envelope.
  const generation = req.generation ?? opened.value.generation ?? 'e84f720';
  return { ok: true, value: { ...opened.value, generation } };
}

// Stage 2: read the authenticated document as its generation writes it, and hold it to the
// device the request claimed outside the MAC. An unreadable document is the device's mistake, not
// an attack: it is answered 400 without a security event.
/** An upload whose sender is known and whose document is read. */
export interface AuthenticatedUpload<D extends UploadHeader> {
  doc: D;
  nonce: number | null;
  /** `null` when the fleet key (or no key) authenticated the upload. */
  keyKid: string | null;
  protocol: UploadProtocol;
  encrypted: boolean;
}

export function readDocument<D extends UploadHeader, S>(
  decoder: GenerationDecoder<D, S>,
  opened: OpenedRequest,
): Outcome<AuthenticatedUpload<D>> {
  const doc = decoder.parse(opened.inner);
  if (!doc.ok) return refused(quietRefusal('malformed_payload', doc.message));
  const mismatch = claimMismatch(opened, doc.doc.deviceId);
  if (mismatch) return refused(mismatch);
  return {
    ok: true,
    value: {
      doc: doc.doc,
      nonce: opened.nonce,
      keyKid: opened.keyKid,
      protocol: opened.protocol,
      encrypted: opened.encrypted,
    },
  };
}

// Stage 3: the per-device rate limit, taken only once the device is authenticated so a stranger
// cannot spend a device's tokens by naming it. 429 with Retry-After, no security event.
export async function limitDeviceRate(
  limiter: Limiter | undefined,
  deviceId: string,
): Promise<Outcome<void>> {
  try {
    await limiter?.take(deviceId);
  } catch (err) {
    // A limiter says "no token" by throwing (the per-source hook lets that reach the error
    // handler as it is); anything else it throws is a fault, not a refusal.
    if (!(err instanceof ApiError) || err.code !== 'rate_limited') throw err;
    return refused(
      quietRefusal(err.code, err.message, { retryAfterSeconds: err.retryAfterSeconds, details: err.details }),
    );
  }
  return { ok: true, value: undefined };
}

// Stage 4: decode the packets with the generation's decoder, following the device's decoder
// state. Never refuses: a packet that cannot be decoded is quarantined and the upload is still
// acknowledged, or the device would resend it forever.
export interface DecodedUpload<S> {
  packets: PacketRecord[];
  /** The device's decoder state after these packets, to keep if the commit succeeds. */
  state: S;
  /** `state` as the commit stores it. */
  savedState: string;
}

export async function decodeUpload<D extends UploadHeader, S>(
  decoder: GenerationDecoder<D, S>,
  states: DecoderStates,
  upload: AuthenticatedUpload<D>,
  clock: DecodeClock,
): Promise<DecodedUpload<S>> {
  const deviceId = upload.doc.deviceId;
  const state = await states.load(decoder, deviceId);
  const packets = decoder.decode(deviceId, upload.doc, clock, state);
  return { packets, state, savedState: decoder.saveState(state) };
}
