/**
 * Response bodies of the field OTA endpoints (PROTOCOL.md §6.2) exactly as the e84f720 reference
 * server built them, so the firmware's parser sees the same fields and values.
 */
import type { FirmwareManifest } from './manifest.js';

export type OfferedManifest = Pick<
  FirmwareManifest,
  | 'version'
  | 'original_size'
  | 'encrypted_size'
  | 'total_chunks'
  | 'chunk_size'
  | 'sha256_hash'
  | 'signature'
  | 'iv'
>;

export interface FieldCheckOffer extends OfferedManifest {
  update_available: true;
}

export interface FieldChunkResponse {
  chunk: { chunk_number: number; data: string; size: number; hmac: string; total_chunks: number };
  progress: { chunks_received: number; total_chunks: number; percentage: number };
}

export function fieldCheckOffer(m: OfferedManifest): FieldCheckOffer {
  return {
    update_available: true,
    version: m.version,
    original_size: m.original_size,
    encrypted_size: m.encrypted_size,
    total_chunks: m.total_chunks,
    chunk_size: m.chunk_size,
    sha256_hash: m.sha256_hash,
    signature: m.signature,
    iv: m.iv,
  };
}

/**
 * Python's `round(x, 1)` on the reference's `received * 100.0 / total`: correctly rounded from the
 * binary value, ties to even (only x.25 and x.75 are exact ties in binary; `toFixed` would go up).
 */
export function progressPercentage(received: number, total: number): number {
  const x = (received * 100.0) / total;
  if (Number.isInteger(x * 4) && !Number.isInteger(x * 2)) {
    const down = Math.floor(x * 10);
    return (down % 2 === 0 ? down : down + 1) / 10;
  }
  return Number(x.toFixed(1));
}

export function fieldChunkResponse(
  chunkNumber: number,
  data: Uint8Array,
  mac: string,
  totalChunks: number,
): FieldChunkResponse {
  return {
    chunk: {
      chunk_number: chunkNumber,
      data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'),
      size: data.length,
      hmac: mac,
      total_chunks: totalChunks,
    },
    progress: {
      chunks_received: chunkNumber + 1,
      total_chunks: totalChunks,
      percentage: progressPercentage(chunkNumber + 1, totalChunks),
    },
  };
}
