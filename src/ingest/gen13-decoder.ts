/**
 * The 1.3 generation's upload document and packet decoding (PROTOCOL-1.3.md §3, §4): one packet
 * holds every sample since the last upload, its metadata names the layout and sample count, and
 * the times come from the device's unix clock. Truncated `compressed_binary` (the firmware cuts it
 * above 189 bytes without saying) is quarantined with its bytes, never half-decoded.
 */
import type { PacketRecord } from '../ports/storage.js';
import { encodeBase64 } from '../protocol/base64.js';
import {
  decodeUploadPacket13,
  parseUpload13,
  Temporal13Context,
  type Upload13,
  type Upload13Packet,
} from '../protocol/gen13/index.js';
import { dedupeKey, quarantinedPacket } from './decode-packets.js';
import type { DecodeClock, GenerationDecoder } from './generation-decoder.js';

/** The firmware's default poll period, for a document that says 0 (§3). */
const DEFAULT_SAMPLING_MS = 5000;
/** `timestamp` is unix seconds when the device clock is set; else `millis()/1000` (§3). */
const CLOCK_TRUST_MS = 86_400_000;
const U32 = 2 ** 32;
/** Packets older than this against their upload's clock are not placed by their own timestamp. */
const MAX_PACKET_AGE_MS = 7 * 86_400_000;
/** Dedupe keys of the latest packets followed, so a re-sent packet does not advance the history twice. */
const RECENT_PACKETS = 32;

export interface Gen13State {
  temporal: Temporal13Context;
  recent: string[];
}

function fresh(): Gen13State {
  return { temporal: Temporal13Context.unknown(), recent: [] };
}

/**
 * When the packet's last sample was taken. The packet's own timestamp is unix-ms cut to 32 bits
 * (§3): set against the upload's clock it gives the packet's age, which is applied to our clock.
 */
export function packetEndTime(
  doc: Pick<Upload13, 'timestamp'>,
  ts32: number | null,
  receivedAt: number,
): number {
  const uploadMs = doc.timestamp * 1000;
  const anchor = Math.abs(uploadMs - receivedAt) <= CLOCK_TRUST_MS ? uploadMs : receivedAt;
  if (ts32 === null) return anchor;
  // The packet time congruent to ts32 mod 2^32 nearest below the upload time (a second of slack).
  let end = Math.floor(uploadMs / U32) * U32 + ts32;
  if (end > uploadMs + 1000) end -= U32;
  // The upload's clock is whole seconds: a packet stamped within that second is up to 1 s "newer".
  const age = uploadMs - end;
  return age >= -1000 && age <= MAX_PACKET_AGE_MS ? anchor - age : anchor;
}

function decodeEntry(
  deviceId: string,
  doc: Upload13,
  p: Upload13Packet,
  clock: DecodeClock,
  state: Gen13State,
): PacketRecord {
  const bytes = p.bytes ?? new Uint8Array(Buffer.from(p.compressedBinary ?? '', 'utf8'));
  const key = dedupeKey(deviceId, p.deviceTimestamp, bytes);
  // A packet already followed (a re-send after a lost answer) is decoded on a copy of the history:
  // the device's temporal history moved on once for it, and so does ours.
  const seen = state.recent.includes(key);
  if (!seen) {
    state.recent.push(key);
    if (state.recent.length > RECENT_PACKETS) state.recent.shift();
  }
  // Size faults come first (the firmware's own cut above 189 bytes, §3 point 5), then whatever
  // else the parser found wrong: either way the bytes are kept, never half-decoded.
  const r = decodeUploadPacket13(p, seen ? state.temporal.clone() : state.temporal);
  if (!r.ok) return quarantinedPacket(deviceId, p, bytes, `${r.code}: ${r.message}`);
  if (p.problem !== null) return quarantinedPacket(deviceId, p, bytes, `malformed_entry: ${p.problem}`);
  const samples = p.sampleCount ?? 1;
  const step = doc.samplingInterval > 0 ? doc.samplingInterval * 1000 : DEFAULT_SAMPLING_MS;
  const end = packetEndTime(doc, p.deviceTimestamp, clock.receivedAt);
  return {
    index: p.index,
    deviceTimestamp: p.deviceTimestamp,
    bytes: encodeBase64(bytes),
    dedupeKey: key,
    method: r.method,
    label: p.label,
    status: 'decoded',
    reason: null,
    // An `AA` packet carries only a summary: kept beside the (missing) samples, never as values.
    notes: r.summary ? [...r.notes, `aggregation summary: ${JSON.stringify(r.summary)}`] : r.notes,
    block: {
      time: end - (samples - 1) * step,
      step,
      samples,
      layout: p.registerLayout ?? [],
      values: r.values,
      quality: r.quality,
    },
  };
}

export const gen13Decoder: GenerationDecoder<Upload13, Gen13State> = {
  generation: '1.3',
  initialHigh: 11_000,
  parse: parseUpload13,
  loadState(stored) {
    if (!stored) return fresh();
    try {
      const s = JSON.parse(stored) as { g13?: { temporal?: unknown; recent?: unknown } };
      const temporal = Temporal13Context.fromJSON(s.g13?.temporal);
      if (!temporal) return fresh();
      const recent = Array.isArray(s.g13?.recent)
        ? s.g13.recent.filter((k): k is string => typeof k === 'string').slice(-RECENT_PACKETS)
        : [];
      return { temporal, recent };
    } catch {
      return fresh();
    }
  },
  cloneState: (s) => ({ temporal: s.temporal.clone(), recent: [...s.recent] }),
  saveState: (s) => JSON.stringify({ g13: { temporal: s.temporal.toJSON(), recent: s.recent } }),
  decode: (deviceId, doc, clock, state) =>
    doc.packets.map((p) => decodeEntry(deviceId, doc, p, clock, state)),
};
