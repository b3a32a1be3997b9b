/** The e84f720 generation's upload document and packet decoding (PROTOCOL.md §1.3, §3, §10.5). */
import { FIELD_INITIAL_HIGH } from '../model/device.js';
import { DictionaryMirror } from '../protocol/codecs/dictionary-mirror.js';
import { decodePackets } from './decode-packets.js';
import type { GenerationDecoder } from './generation-decoder.js';
import { parseUploadDocument, type UploadDocument } from './upload-document.js';

export const e84f720Decoder: GenerationDecoder<UploadDocument, DictionaryMirror> = {
  generation: 'e84f720',
  initialHigh: FIELD_INITIAL_HIGH,
  parse: parseUploadDocument,
  // A state kept by the other generation has none of the mirror's fields: it reads as fresh.
  loadState: (stored) => DictionaryMirror.fromJSON(stored),
  cloneState: (mirror) => mirror.clone(),
  saveState: (mirror) => mirror.toJSON(),
  decode: (deviceId, doc, clock, mirror) =>
    decodePackets(deviceId, doc, {
      receivedAt: clock.receivedAt,
      pollIntervalMs: clock.pollIntervalMs,
      mirror,
    }),
};
