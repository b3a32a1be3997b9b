/**
 * The device side of a firmware update (PROTOCOL.md §6.3, PROTOCOL-1.3.md §8) with the order of
 * checks an update must have: every chunk's HMAC is verified (constant time) BEFORE it is
 * decrypted (e84f720 only: the 1.3 firmware checks no chunk HMAC, its keys have no chunk key),
 * decryption continues the CBC chain across chunk boundaries, and the image is only declared fit
 * to commit after its SHA-256 matches the manifest AND the RSA signature verifies — the e84f720
 * firmware made the image bootable first (§8.10). Used by the simulator and by tests.
 *
 * The state between chunks is small and plain (next chunk, chaining IV, bytes written) so a device
 * can persist it and resume after losing power, where the field firmware restarted from chunk 0.
 */
import { createDecipheriv, createHash, type KeyObject, verify } from 'node:crypto';
import { decodeBase64Strict } from '../base64.js';
import { verifyChunkMac } from './chunk-mac.js';
import type { OfferedManifest } from './field-responses.js';
import { AES_BLOCK, ESP32_IMAGE_MAGIC, encryptedSize, totalChunks } from './manifest.js';

export interface DeviceFirmwareKeys {
  /** AES-256 firmware key. */
  aesKey: Uint8Array;
  /**
   * Chunk HMAC key: the bytes of its ASCII text (e84f720). `null`: the generation checks no chunk
   * HMAC (1.3); the image's SHA-256 and signature still are.
   */
  chunkKey: Uint8Array | null;
  /** The signing key's public half, as compiled into the firmware. */
  publicKey: KeyObject;
}

export type UpdateStage = 'manifest' | 'chunk' | 'image' | 'signature';

export interface UpdateFailure {
  stage: UpdateStage;
  /** Set for chunk failures: the chunk that was refused. */
  chunk?: number;
  reason:
    | 'bad_manifest'
    | 'too_large'
    | 'out_of_order'
    | 'bad_encoding'
    | 'size_mismatch'
    | 'hmac_mismatch'
    | 'not_block_aligned'
    | 'image_magic'
    | 'bad_padding'
    | 'incomplete'
    | 'length_mismatch'
    | 'sha256_mismatch'
    | 'signature_invalid';
}

export interface ServedChunk {
  chunk_number: number;
  data: string;
  size: number;
  /** Absent from 1.3 answers. */
  hmac?: string;
}

/** What a device keeps between chunks (its NVS record of the download). */
export interface ReceiverState {
  nextChunk: number;
  /** The chaining IV for the next chunk: the last ciphertext block received (hex). */
  iv: string;
  written: number;
}

export type Step<T = undefined> = { ok: true; value: T } | { ok: false; failure: UpdateFailure };

const fail = (stage: UpdateStage, reason: UpdateFailure['reason'], chunk?: number): Step<never> => ({
  ok: false,
  failure: chunk === undefined ? { stage, reason } : { stage, reason, chunk },
});

/** Default OTA partition of a 4 MB ESP32 (min_spiffs layout). */
export const DEFAULT_PARTITION_SIZE = 1_966_080;

export class FirmwareReceiver {
  private nextChunk = 0;
  private iv: Buffer;
  private readonly partition: Buffer;
  private written = 0;

  private constructor(
    readonly manifest: OfferedManifest,
    private readonly keys: DeviceFirmwareKeys,
    iv: Buffer,
  ) {
    this.iv = iv;
    this.partition = Buffer.alloc(manifest.encrypted_size);
  }

  /** Checks the manifest as the firmware does (16-byte IV, sizes that fit) and more. */
  static start(
    manifest: OfferedManifest,
    keys: DeviceFirmwareKeys,
    partitionSize = DEFAULT_PARTITION_SIZE,
  ): Step<FirmwareReceiver> {
    const iv = typeof manifest.iv === 'string' ? decodeBase64Strict(manifest.iv) : undefined;
    const m = manifest;
    const sane =
      iv?.length === AES_BLOCK &&
      Number.isSafeInteger(m.original_size) &&
      m.original_size > 0 &&
      m.encrypted_size === encryptedSize(m.original_size) &&
      Number.isSafeInteger(m.chunk_size) &&
      m.chunk_size > 0 &&
      m.chunk_size % AES_BLOCK === 0 &&
      m.total_chunks === totalChunks(m.encrypted_size, m.chunk_size) &&
      typeof m.sha256_hash === 'string' &&
      typeof m.signature === 'string';
    if (!sane || !iv) return fail('manifest', 'bad_manifest');
    if (m.encrypted_size > partitionSize) return fail('manifest', 'too_large');
    return { ok: true, value: new FirmwareReceiver(manifest, keys, Buffer.from(iv)) };
  }

  /** Continues a download from a persisted state (the bytes already written are the caller's). */
  static resume(
    manifest: OfferedManifest,
    keys: DeviceFirmwareKeys,
    state: ReceiverState,
    written: Uint8Array,
  ): Step<FirmwareReceiver> {
    const started = FirmwareReceiver.start(manifest, keys);
    if (!started.ok) return started;
    const r = started.value;
    r.nextChunk = state.nextChunk;
    r.iv = Buffer.from(state.iv, 'hex');
    r.written = state.written;
    Buffer.from(written).copy(r.partition, 0, 0, state.written);
    return started;
  }

  get state(): ReceiverState {
    return { nextChunk: this.nextChunk, iv: this.iv.toString('hex'), written: this.written };
  }

  get done(): boolean {
    return this.nextChunk === this.manifest.total_chunks;
  }

  /** The bytes written to the "partition" so far. */
  get image(): Buffer {
    return this.partition.subarray(0, this.written);
  }

  acceptChunk(served: ServedChunk): Step {
    const k = this.nextChunk;
    if (served.chunk_number !== k) return fail('chunk', 'out_of_order', k);
    const data = typeof served.data === 'string' ? decodeBase64Strict(served.data) : undefined;
    if (!data || data.length > this.manifest.chunk_size) return fail('chunk', 'bad_encoding', k);
    if (data.length !== served.size) return fail('chunk', 'size_mismatch', k);
    // Authenticate before any byte reaches the decryptor (where the generation has a chunk MAC).
    const key = this.keys.chunkKey;
    if (key && !verifyChunkMac(key, data, k, served.hmac)) return fail('chunk', 'hmac_mismatch', k);
    if (data.length === 0 || data.length % AES_BLOCK !== 0) return fail('chunk', 'not_block_aligned', k);

    const decipher = createDecipheriv('aes-256-cbc', this.keys.aesKey, this.iv).setAutoPadding(false);
    let plain = Buffer.concat([decipher.update(data), decipher.final()]);
    if (k === 0 && plain[0] !== ESP32_IMAGE_MAGIC) return fail('chunk', 'image_magic', k);
    if (k === this.manifest.total_chunks - 1) {
      const pad = plain[plain.length - 1];
      const valid =
        pad >= 1 && pad <= AES_BLOCK && pad <= plain.length && plain.subarray(-pad).every((b) => b === pad);
      if (!valid) return fail('chunk', 'bad_padding', k);
      plain = plain.subarray(0, plain.length - pad);
    }
    plain.copy(this.partition, this.written);
    this.written += plain.length;
    this.iv = Buffer.from(data.subarray(data.length - AES_BLOCK));
    this.nextChunk = k + 1;
    return { ok: true, value: undefined };
  }

  /**
   * The checks before commit: complete, the declared length, the manifest's SHA-256 and the RSA
   * signature over the written image (read back, as the firmware does).
   */
  verifyBeforeCommit(): Step<{ image: Buffer; sha256: string }> {
    if (!this.done) return fail('image', 'incomplete');
    const image = this.image;
    if (image.length !== this.manifest.original_size) return fail('image', 'length_mismatch');
    const sha256 = createHash('sha256').update(image).digest('hex');
    if (sha256 !== this.manifest.sha256_hash) return fail('image', 'sha256_mismatch');
    const signature = decodeBase64Strict(this.manifest.signature);
    if (!signature || !verifySignature(image, this.keys.publicKey, signature)) {
      return fail('signature', 'signature_invalid');
    }
    return { ok: true, value: { image, sha256 } };
  }
}

function verifySignature(image: Uint8Array, key: KeyObject, signature: Uint8Array): boolean {
  try {
    return verify('sha256', image, key, signature);
  } catch {
    // A signature of the wrong length or a key of the wrong type is a failed verification.
    return false;
  }
}

export function describeFailure(f: UpdateFailure): string {
  return f.chunk === undefined ? `${f.stage}: ${f.reason}` : `chunk ${f.chunk}: ${f.reason}`;
}
