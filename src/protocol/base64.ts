/**
 * Base64 helpers, including the device's `compressed_binary` quirk (PROTOCOL.md §3.4): its encoder
 * never pads with `=` but emits zero bits for the missing bytes, so a standard decoder yields 1–2
 * junk trailing zero bytes.
 */

const STANDARD = /^[A-Za-z0-9+/]*={0,2}$/;

/** Strict RFC 4648 decode (padding optional); `undefined` for anything else. */
export function decodeBase64Strict(text: string): Uint8Array | undefined {
  if (!STANDARD.test(text)) return undefined;
  const unpadded = text.replace(/=+$/, '');
  if (unpadded.length % 4 === 1) return undefined;
  if (text.includes('=') && text.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(unpadded, 'base64');
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** What main.cpp puts into `compressed_binary`: 4 characters per 3-byte group, never `=`. */
export function encodeDeviceBase64(bytes: Uint8Array): string {
  const padded = new Uint8Array(Math.ceil(bytes.length / 3) * 3);
  padded.set(bytes);
  return encodeBase64(padded);
}

/**
 * Decodes a `compressed_binary` string in either variant. With the exact length known (the
 * metadata's `compressed_size_bytes`) the junk bytes are cut; without it, a device-variant string
 * keeps its trailing zero bytes and the caller must know the count from elsewhere.
 */
export function decodeCompressedBinary(
  text: string,
  length?: number,
): { ok: true; bytes: Uint8Array } | { ok: false; message: string } {
  const bytes = decodeBase64Strict(text);
  if (!bytes) return { ok: false, message: 'compressed_binary is not base64' };
  if (length === undefined) return { ok: true, bytes };
  if (!Number.isInteger(length) || length < 0)
    return { ok: false, message: 'compressed_size_bytes is not a count' };
  if (length > bytes.length) {
    return {
      ok: false,
      message: `compressed_size_bytes ${length} exceeds the ${bytes.length} decoded bytes`,
    };
  }
  // Only zero junk may be cut: anything else means the length does not belong to this data.
  for (let i = length; i < bytes.length; i++) {
    if (bytes[i] !== 0)
      return { ok: false, message: `compressed_size_bytes ${length} cuts off non-zero data` };
  }
  if (bytes.length - length > 2) {
    return {
      ok: false,
      message: `compressed_size_bytes ${length} is far shorter than the ${bytes.length} bytes sent`,
    };
  }
  return { ok: true, bytes: bytes.subarray(0, length) };
}
