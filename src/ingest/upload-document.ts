/**
 * The telemetry document inside an envelope (PROTOCOL.md §1.3), checked for what the server
 * needs. A malformed packet entry does not sink the upload: it is kept and quarantined.
 */
import { DEVICE_ID_PATTERN } from '../model/device.js';

export interface PacketEntry {
  index: number;
  compressedBinary: string | null;
  label: string | null;
  compressedSize: number | null;
  deviceTimestamp: number | null;
  registerLayout: number[] | null;
  /** Why the entry itself is unusable, if it is. */
  problem: string | null;
}

export interface UploadDocument {
  deviceId: string;
  timestamp: number | null;
  packets: PacketEntry[];
}

export const MAX_PACKETS_PER_UPLOAD = 256;

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);
const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

function parseEntry(entry: unknown, index: number): PacketEntry {
  const out: PacketEntry = {
    index,
    compressedBinary: null,
    label: null,
    compressedSize: null,
    deviceTimestamp: null,
    registerLayout: null,
    problem: null,
  };
  if (!isObject(entry)) return { ...out, problem: 'packet entry is not an object' };
  if (typeof entry.compressed_binary !== 'string')
    return { ...out, problem: 'compressed_binary is not a string' };
  out.compressedBinary = entry.compressed_binary;
  const meta = entry.decompression_metadata;
  if (meta === undefined) return out;
  if (!isObject(meta)) return { ...out, problem: 'decompression_metadata is not an object' };
  if (meta.method !== undefined) {
    if (typeof meta.method !== 'string')
      return { ...out, problem: 'decompression_metadata.method is not a string' };
    out.label = meta.method;
  }
  if (meta.compressed_size_bytes !== undefined) {
    if (!isCount(meta.compressed_size_bytes))
      return { ...out, problem: 'compressed_size_bytes is not a count' };
    out.compressedSize = meta.compressed_size_bytes;
  }
  if (meta.timestamp !== undefined) {
    if (!isCount(meta.timestamp))
      return { ...out, problem: 'decompression_metadata.timestamp is not a count' };
    out.deviceTimestamp = meta.timestamp;
  }
  if (meta.register_layout !== undefined) {
    const layout = meta.register_layout;
    if (!Array.isArray(layout) || layout.length > 255 || !layout.every((r) => isCount(r) && r <= 255)) {
      return { ...out, problem: 'register_layout is not a list of RegIDs' };
    }
    out.registerLayout = layout as number[];
  }
  return out;
}

export function parseUploadDocument(
  doc: unknown,
): { ok: true; doc: UploadDocument } | { ok: false; message: string } {
  if (!isObject(doc)) return { ok: false, message: 'the payload is not a JSON object' };
  const id = doc.device_id;
  if (typeof id !== 'string' || !DEVICE_ID_PATTERN.test(id)) {
    return { ok: false, message: 'device_id must be 1-128 letters, digits or _.:- characters' };
  }
  let timestamp: number | null = null;
  if (doc.timestamp !== undefined) {
    if (!isCount(doc.timestamp)) return { ok: false, message: 'timestamp must be a non-negative integer' };
    timestamp = doc.timestamp;
  }
  const data = doc.compressed_data;
  if (!Array.isArray(data)) return { ok: false, message: 'compressed_data must be an array' };
  if (data.length > MAX_PACKETS_PER_UPLOAD) {
    return { ok: false, message: `compressed_data holds more than ${MAX_PACKETS_PER_UPLOAD} packets` };
  }
  return { ok: true, doc: { deviceId: id, timestamp, packets: data.map(parseEntry) } };
}
