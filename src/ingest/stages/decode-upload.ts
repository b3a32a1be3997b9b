/**
 * Stage 4: decode the packets with the generation's decoder, following the device's decoder
 * state. Never refuses: a packet that cannot be decoded is quarantined and the upload is still
 * acknowledged, or the device would resend it forever.
 */
import type { PacketRecord } from '../../ports/storage.js';
import type { DecoderStates } from '../decoder-states.js';
import type { DecodeClock, GenerationDecoder, UploadHeader } from '../generation-decoder.js';
import type { AuthenticatedUpload } from './read-document.js';

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
