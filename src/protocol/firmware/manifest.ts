/**
 * Firmware preparation as the field devices expect it (PROTOCOL.md §6.1): SHA-256 of the image,
 * an RSA PKCS#1 v1.5 / SHA-256 signature over it, AES-256-CBC with PKCS#7 padding under a fresh
 * IV, cut into fixed-size chunks. The sealer is incremental so an upload is encrypted as it
 * arrives and the plaintext never has to be held whole.
 */
import { createCipheriv, createHash, createSign, type Hash, type KeyObject, type Sign } from 'node:crypto';

/** Chunk size of the field generation (the firmware's decrypt buffer holds 1040 bytes). */
export const FIELD_CHUNK_SIZE = 1024;
/** First byte of every ESP32 application image; the Update library aborts on anything else. */
export const ESP32_IMAGE_MAGIC = 0xe9;
export const AES_BLOCK = 16;

/** The manifest file of §6.1, field names as on the wire. */
export interface FirmwareManifest {
  version: string;
  original_size: number;
  encrypted_size: number;
  sha256_hash: string;
  signature: string;
  /** base64 */
  iv: string;
  chunk_size: number;
  total_chunks: number;
  /** ISO 8601 */
  timestamp: string;
}

export interface SealingKeys {
  /** AES-256 key, 32 bytes. */
  aesKey: Uint8Array;
  /** RSA private key. */
  signingKey: KeyObject;
}

/** PKCS#7 always adds padding: a whole block when the image is a multiple of 16 bytes. */
export function encryptedSize(originalSize: number): number {
  return (Math.floor(originalSize / AES_BLOCK) + 1) * AES_BLOCK;
}

export function totalChunks(encrypted: number, chunkSize: number): number {
  return Math.ceil(encrypted / chunkSize);
}

export function isValidChunkSize(n: number): boolean {
  return Number.isInteger(n) && n >= AES_BLOCK && n % AES_BLOCK === 0 && n <= 65536;
}

export interface SealedDigest {
  originalSize: number;
  sha256: string;
  /** base64 */
  signature: string;
}

export class FirmwareSealer {
  private readonly cipher;
  private readonly hash: Hash = createHash('sha256');
  private readonly signer: Sign = createSign('sha256');
  private size = 0;
  private firstByte: number | undefined;

  constructor(
    private readonly keys: SealingKeys,
    readonly iv: Uint8Array,
  ) {
    if (keys.aesKey.length !== 32) throw new RangeError('the firmware AES key must be 32 bytes');
    if (iv.length !== AES_BLOCK) throw new RangeError('the IV must be 16 bytes');
    this.cipher = createCipheriv('aes-256-cbc', keys.aesKey, iv);
  }

  /** The image's first byte once seen (the ESP32 magic check). */
  get magic(): number | undefined {
    return this.firstByte;
  }

  get bytesIn(): number {
    return this.size;
  }

  /** Feeds plaintext; returns the ciphertext it completes. */
  update(plain: Uint8Array): Buffer {
    if (plain.length === 0) return Buffer.alloc(0);
    if (this.firstByte === undefined) this.firstByte = plain[0];
    this.size += plain.length;
    this.hash.update(plain);
    this.signer.update(plain);
    return this.cipher.update(plain);
  }

  /** The padded last ciphertext blocks, with the image's digest and signature. */
  final(): { tail: Buffer; digest: SealedDigest } {
    const tail = this.cipher.final();
    return {
      tail,
      digest: {
        originalSize: this.size,
        sha256: this.hash.digest('hex'),
        signature: this.signer.sign(this.keys.signingKey).toString('base64'),
      },
    };
  }
}

export function buildManifest(input: {
  version: string;
  digest: SealedDigest;
  iv: Uint8Array;
  chunkSize: number;
  timestamp: Date;
}): FirmwareManifest {
  const encrypted = encryptedSize(input.digest.originalSize);
  return {
    version: input.version,
    original_size: input.digest.originalSize,
    encrypted_size: encrypted,
    sha256_hash: input.digest.sha256,
    signature: input.digest.signature,
    iv: Buffer.from(input.iv).toString('base64'),
    chunk_size: input.chunkSize,
    total_chunks: totalChunks(encrypted, input.chunkSize),
    timestamp: input.timestamp.toISOString(),
  };
}

/** One-shot preparation of an image held in memory (tests, the simulator, small tools). */
export function sealFirmware(
  image: Uint8Array,
  opts: { version: string; keys: SealingKeys; iv: Uint8Array; chunkSize?: number; timestamp?: Date },
): { manifest: FirmwareManifest; ciphertext: Buffer } {
  const sealer = new FirmwareSealer(opts.keys, opts.iv);
  const head = sealer.update(image);
  const { tail, digest } = sealer.final();
  return {
    manifest: buildManifest({
      version: opts.version,
      digest,
      iv: opts.iv,
      chunkSize: opts.chunkSize ?? FIELD_CHUNK_SIZE,
      timestamp: opts.timestamp ?? new Date(),
    }),
    ciphertext: Buffer.concat([head, tail]),
  };
}

/** Byte range of chunk `n` within the ciphertext. */
export function chunkRange(
  n: number,
  chunkSize: number,
  encrypted: number,
): { offset: number; length: number } {
  const offset = n * chunkSize;
  return { offset, length: Math.max(0, Math.min(chunkSize, encrypted - offset)) };
}
