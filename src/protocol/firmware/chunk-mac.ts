/**
 * The per-chunk HMAC of the field OTA protocol (PROTOCOL.md §6.2): HMAC-SHA256 keyed with the
 * chunk key's ASCII TEXT (the 64 characters, not the bytes they spell in hex) over the chunk's
 * ciphertext followed by the chunk number in ASCII decimal; lowercase hex on the wire.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The field firmware's chunk key (firmware keys.cpp `HMAC_FOTA_KEY`), public since commit 9575070. */
export const FIELD_CHUNK_KEY_TEXT = '16ecd7da91ce8db9c0de79be4da968e98923a3bca23e2581dfa24bce23297a54';

const PRINTABLE = /^[\x21-\x7e]{16,256}$/;

/**
 * The key bytes the firmware feeds to mbedTLS (`strlen(HMAC_PSK)` bytes of the string). Printable
 * ASCII only, so the text survives a C string literal unchanged; `undefined` otherwise.
 */
export function chunkKeyFromText(text: string): Buffer | undefined {
  return PRINTABLE.test(text) ? Buffer.from(text, 'latin1') : undefined;
}

export function chunkMacBytes(key: Uint8Array, chunk: Uint8Array, chunkNumber: number): Buffer {
  return createHmac('sha256', key).update(chunk).update(String(chunkNumber), 'latin1').digest();
}

export function chunkMac(key: Uint8Array, chunk: Uint8Array, chunkNumber: number): string {
  return chunkMacBytes(key, chunk, chunkNumber).toString('hex');
}

const MAC_HEX = /^[0-9a-f]{64}$/;

/** Constant-time check of a served MAC; like the firmware, only lowercase hex is accepted. */
export function verifyChunkMac(
  key: Uint8Array,
  chunk: Uint8Array,
  chunkNumber: number,
  mac: unknown,
): boolean {
  if (typeof mac !== 'string' || !MAC_HEX.test(mac)) return false;
  return timingSafeEqual(chunkMacBytes(key, chunk, chunkNumber), Buffer.from(mac, 'hex'));
}
