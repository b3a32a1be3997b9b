/**
 * Turns an upload's packet entries into stored packet records (PROTOCOL.md §10.5): exact bytes,
 * decoded samples with a quality per value and a wall-clock time per sample, or a quarantine
 * reason. Never substitutes zeros, never drops a packet.
 */
import { createHash } from 'node:crypto';
import type { PacketRecord } from '../ports/storage.js';
import { decodeCompressedBinary, encodeBase64 } from '../protocol/base64.js';
import { decodePacket } from '../protocol/codecs/decode-packet.js';
import type { DictionaryMirror } from '../protocol/codecs/dictionary-mirror.js';
import { decodeE1 } from '../protocol/codecs/lossless-e1.js';
import type { Quality } from '../protocol/codecs/types.js';
import { BATCH_LAYOUT, BATCH_POSITIONS, BATCH_SAMPLES } from '../protocol/registers.js';
import type { PacketEntry, UploadDocument } from './upload-document.js';

export interface DecodeContext {
  receivedAt: number;
  pollIntervalMs: number;
  /** The device's dictionary as mirrored so far; followed (and so changed) packet by packet. */
  mirror?: DictionaryMirror;
}

interface Grid {
  method: string;
  layout: readonly number[];
  samples: number;
  values: readonly (number | null)[];
  quality: readonly Quality[];
  notes: string[];
}

const E1_MARKER = 0xe1;

/** A packet kept with its bytes and the reason it could not be decoded (both generations). */
export function quarantinedPacket(
  deviceId: string,
  entry: { index: number; deviceTimestamp: number | null; label: string | null },
  bytes: Uint8Array,
  reason: string,
): PacketRecord {
  return {
    index: entry.index,
    deviceTimestamp: entry.deviceTimestamp,
    bytes: encodeBase64(bytes),
    dedupeKey: dedupeKey(deviceId, entry.deviceTimestamp, bytes),
    method: null,
    label: entry.label,
    status: 'quarantined',
    reason,
    notes: [],
    block: null,
  };
}

export function dedupeKey(deviceId: string, deviceTimestamp: number | null, bytes: Uint8Array): string {
  return createHash('sha256')
    .update(deviceId)
    .update('\0')
    .update(String(deviceTimestamp ?? ''))
    .update('\0')
    .update(bytes)
    .digest('base64url');
}

/** Batch packets always use the fixed 5×6 layout whatever `register_layout` says (§3.2). */
function layoutFor(entry: PacketEntry): { positions: readonly number[]; layout: readonly number[] } {
  if (entry.label === null || entry.label.startsWith('BATCH_') || entry.registerLayout === null) {
    return { positions: BATCH_POSITIONS, layout: BATCH_LAYOUT };
  }
  return { positions: entry.registerLayout, layout: entry.registerLayout };
}

function decodeGrid(entry: PacketEntry, bytes: Uint8Array, ctx: DecodeContext): Grid | { error: string } {
  if (bytes.length > 0 && bytes[0] === E1_MARKER) {
    const r = decodeE1(bytes);
    if (!r.ok) return { error: `${r.code}: ${r.message}` };
    return {
      method: r.method,
      layout: r.registers,
      samples: r.samples,
      values: r.values,
      quality: r.quality,
      notes: r.notes,
    };
  }
  const { positions, layout } = layoutFor(entry);
  if (positions.length === 0) return { error: 'bad_count: register_layout is empty' };
  const r = decodePacket(bytes, {
    registers: positions,
    ...(ctx.mirror ? { patterns: ctx.mirror.patterns } : {}),
  });
  if (!r.ok) return { error: `${r.code}: ${r.message}` };
  if (r.values.length !== positions.length) {
    return { error: `bad_count: decoded ${r.values.length} values, expected ${positions.length}` };
  }
  const samples = positions === BATCH_POSITIONS ? BATCH_SAMPLES : 1;
  return { method: r.method, layout, samples, values: r.values, quality: r.quality, notes: r.notes };
}

export function decodePackets(deviceId: string, doc: UploadDocument, ctx: DecodeContext): PacketRecord[] {
  ctx.mirror?.beginUpload(doc.timestamp);
  return doc.packets.map((entry) => {
    const record = decodeEntry(deviceId, doc, entry, ctx);
    const mirror = ctx.mirror;
    if (mirror?.isNew(entry.deviceTimestamp) && layoutFor(entry).positions === BATCH_POSITIONS) {
      const bytes = record.status === 'decoded' ? Buffer.from(record.bytes, 'base64') : undefined;
      mirror.follow(
        { timestamp: entry.deviceTimestamp, firstByte: bytes?.[0] },
        record.block ? { values: record.block.values, quality: record.block.quality } : null,
        BATCH_POSITIONS,
        // Five polls make a packet; half a packet of slack before a gap counts as lost packets.
        Math.round(BATCH_SAMPLES * ctx.pollIntervalMs * 1.5),
      );
    }
    return record;
  });
}

function decodeEntry(
  deviceId: string,
  doc: UploadDocument,
  entry: PacketEntry,
  ctx: DecodeContext,
): PacketRecord {
  if (entry.problem !== null || entry.compressedBinary === null) {
    return quarantinedPacket(deviceId, entry, new Uint8Array(0), `malformed_entry: ${entry.problem}`);
  }
  const cut = decodeCompressedBinary(entry.compressedBinary, entry.compressedSize ?? undefined);
  if (!cut.ok) {
    const bytes = new Uint8Array(Buffer.from(entry.compressedBinary, 'utf8'));
    return quarantinedPacket(deviceId, entry, bytes, `bad_base64: ${cut.message}`);
  }
  const grid = decodeGrid(entry, cut.bytes, ctx);
  if ('error' in grid) return quarantinedPacket(deviceId, entry, cut.bytes, grid.error);

  // The device stamps millis() since boot; anchor the packet to our clock (§10.5).
  const age =
    doc.timestamp !== null && entry.deviceTimestamp !== null && doc.timestamp >= entry.deviceTimestamp
      ? doc.timestamp - entry.deviceTimestamp
      : 0;
  const packetTime = ctx.receivedAt - age;
  return {
    index: entry.index,
    deviceTimestamp: entry.deviceTimestamp,
    bytes: encodeBase64(cut.bytes),
    dedupeKey: dedupeKey(deviceId, entry.deviceTimestamp, cut.bytes),
    method: grid.method,
    label: entry.label,
    status: 'decoded',
    reason: null,
    notes: grid.notes,
    block: {
      time: packetTime - (grid.samples - 1) * ctx.pollIntervalMs,
      step: ctx.pollIntervalMs,
      samples: grid.samples,
      layout: grid.layout,
      values: grid.values,
      quality: grid.quality,
    },
  };
}
