/**
 * Property: whatever the image, keys, IV and chunk size, what the server prepares and serves is
 * exactly what the device-side procedure reassembles, and any flipped served byte is refused at
 * its own chunk before decryption.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { chunkMac } from '../../../../src/protocol/firmware/chunk-mac.js';
import { FirmwareReceiver } from '../../../../src/protocol/firmware/device-update.js';
import { fieldChunkResponse, progressPercentage } from '../../../../src/protocol/firmware/field-responses.js';
import { chunkRange, ESP32_IMAGE_MAGIC, sealFirmware } from '../../../../src/protocol/firmware/manifest.js';

let signingKey: KeyObject;
let publicKey: KeyObject;
beforeAll(() => {
  ({ privateKey: signingKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 }));
});

const input = fc.record({
  body: fc.uint8Array({ minLength: 0, maxLength: 6000 }),
  aesKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  iv: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  chunkKey: fc.stringMatching(/^[\x21-\x7e]{16,80}$/),
  chunkBlocks: fc.integer({ min: 1, max: 96 }),
});

interface Input {
  body: Uint8Array;
  aesKey: Uint8Array;
  iv: Uint8Array;
  chunkKey: string;
  chunkBlocks: number;
}

function prepared(x: Input) {
  const image = Buffer.concat([Buffer.from([ESP32_IMAGE_MAGIC]), x.body]);
  const chunkKey = Buffer.from(x.chunkKey, 'latin1');
  const { manifest, ciphertext } = sealFirmware(image, {
    version: '1.2.3',
    keys: { aesKey: x.aesKey, signingKey },
    iv: x.iv,
    chunkSize: x.chunkBlocks * 16,
  });
  const chunks = Array.from({ length: manifest.total_chunks }, (_, k) => {
    const { offset, length } = chunkRange(k, manifest.chunk_size, manifest.encrypted_size);
    const data = ciphertext.subarray(offset, offset + length);
    return fieldChunkResponse(k, data, chunkMac(chunkKey, data, k), manifest.total_chunks).chunk;
  });
  const keys = { aesKey: x.aesKey, chunkKey, publicKey };
  return { image, manifest, ciphertext, chunks, keys };
}

describe('chunk and decrypt round trip', () => {
  it('reassembles the exact image across chunk boundaries and verifies it', () => {
    fc.assert(
      fc.property(input, (x) => {
        const { image, manifest, ciphertext, chunks, keys } = prepared(x);
        expect(ciphertext.length).toBe(manifest.encrypted_size);
        expect(ciphertext.length % 16).toBe(0);
        expect(ciphertext.length).toBeGreaterThan(image.length);
        const r = FirmwareReceiver.start(manifest, keys, Number.MAX_SAFE_INTEGER);
        if (!r.ok) return false;
        for (const c of chunks) expect(r.value.acceptChunk(c)).toEqual({ ok: true, value: undefined });
        const verdict = r.value.verifyBeforeCommit();
        return verdict.ok && verdict.value.image.equals(image);
      }),
      { numRuns: 60 },
    );
  });

  it('resumes from a persisted state as if never interrupted', () => {
    fc.assert(
      fc.property(input, fc.nat(), (x, cut) => {
        const { image, manifest, chunks, keys } = prepared(x);
        const first = FirmwareReceiver.start(manifest, keys, Number.MAX_SAFE_INTEGER);
        if (!first.ok) return false;
        const stop = cut % (chunks.length + 1);
        for (const c of chunks.slice(0, stop)) first.value.acceptChunk(c);
        const resumed = FirmwareReceiver.resume(manifest, keys, first.value.state, first.value.image);
        if (!resumed.ok) return false;
        for (const c of chunks.slice(stop)) expect(resumed.value.acceptChunk(c).ok).toBe(true);
        const verdict = resumed.value.verifyBeforeCommit();
        return verdict.ok && verdict.value.image.equals(image);
      }),
      { numRuns: 40 },
    );
  });

  it('refuses a flipped byte at its own chunk, before decrypting it', () => {
    fc.assert(
      fc.property(input, fc.nat(), fc.integer({ min: 1, max: 255 }), (x, where, mask) => {
        const { manifest, ciphertext, chunks, keys } = prepared(x);
        const pos = where % ciphertext.length;
        const bad = Math.floor(pos / manifest.chunk_size);
        const bytes = Buffer.from(chunks[bad].data, 'base64');
        bytes[pos % manifest.chunk_size] ^= mask;
        const tampered = chunks.map((c, k) => (k === bad ? { ...c, data: bytes.toString('base64') } : c));
        const r = FirmwareReceiver.start(manifest, keys, Number.MAX_SAFE_INTEGER);
        if (!r.ok) return false;
        for (const [k, c] of tampered.entries()) {
          const step = r.value.acceptChunk(c);
          if (k < bad) expect(step.ok).toBe(true);
          if (k === bad) {
            expect(step).toEqual({
              ok: false,
              failure: { stage: 'chunk', chunk: bad, reason: 'hmac_mismatch' },
            });
            return r.value.image.length === bad * manifest.chunk_size;
          }
        }
        return false;
      }),
      { numRuns: 60 },
    );
  });
});

describe('progress percentage', () => {
  it('rounds like Python round(x, 1): ties to even on the binary value', () => {
    expect(progressPercentage(1, 3)).toBe(33.3);
    expect(progressPercentage(2, 3)).toBe(66.7);
    expect(progressPercentage(3, 3)).toBe(100);
    expect(progressPercentage(49, 400)).toBe(12.2);
    expect(progressPercentage(3, 400)).toBe(0.8);
    expect(progressPercentage(1, 8)).toBe(12.5);
  });
});
