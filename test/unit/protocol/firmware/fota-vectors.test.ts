/**
 * `fota.json`: images prepared by the reference server and consumed by the e84f720 OTA code. Given
 * the same image, keys and IV, the manifest and every chunk response (data and HMAC) must be what
 * the field code consumed, and the device-side checks must reach the field's verdicts, each at the
 * right place (a tampered chunk at that chunk, a bad signature before commit).
 *
 * The reference's signing key is not in the vectors: its public half (the one compiled into the
 * firmware, `fota-field-public-key.pem`) proves the signatures, and PKCS#1 v1.5 being deterministic
 * our signatures are compared by their encoded message. With the private key at hand
 * (`FOTA_FIELD_SIGNING_KEY=<pem file>`) the signatures are compared byte for byte as well.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  publicDecrypt,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { chunkKeyFromText, chunkMac } from '../../../../src/protocol/firmware/chunk-mac.js';
import { describeFailure, FirmwareReceiver } from '../../../../src/protocol/firmware/device-update.js';
import { fieldCheckOffer, fieldChunkResponse } from '../../../../src/protocol/firmware/field-responses.js';
import {
  chunkRange,
  type FirmwareManifest,
  sealFirmware,
} from '../../../../src/protocol/firmware/manifest.js';

interface Vector {
  id: string;
  firmware_hex: string;
  firmware_sha256: string;
  aes256_key_hex: string;
  iv_hex: string;
  hmac_key_ascii: string;
  check_response: Record<string, unknown> & { signature: string; version: string };
  chunk_responses: { chunk: Record<string, unknown> & { data: string; hmac: string }; progress: unknown }[];
  chunk_hmacs_match_ascii_key_construction: boolean;
  device_result: { download_and_apply: boolean; error: string; verify: string; written_len: number };
}

const vectors = JSON.parse(
  readFileSync(new URL('../../../fixtures/fota.json', import.meta.url), 'utf8'),
) as Vector[];
const fieldPublicKey = createPublicKey(
  readFileSync(new URL('../../../fixtures/fota-field-public-key.pem', import.meta.url)),
);
const fieldSigningKeyFile = process.env.FOTA_FIELD_SIGNING_KEY;

/** DER prefix of a SHA-256 DigestInfo (RFC 8017 §9.2 note 1). */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

let ourKey: { publicKey: string; privateKey: string };
beforeAll(() => {
  ourKey = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
});

function prepare(v: Vector, signingKey = createPrivateKey(ourKey.privateKey)) {
  const image = Buffer.from(v.firmware_hex, 'hex');
  return sealFirmware(image, {
    version: v.check_response.version,
    keys: { aesKey: Buffer.from(v.aes256_key_hex, 'hex'), signingKey },
    iv: Buffer.from(v.iv_hex, 'hex'),
  });
}

function serve(v: Vector, manifest: FirmwareManifest, ciphertext: Buffer) {
  const key = chunkKeyFromText(v.hmac_key_ascii)!;
  return Array.from({ length: manifest.total_chunks }, (_, k) => {
    const { offset, length } = chunkRange(k, manifest.chunk_size, manifest.encrypted_size);
    const data = ciphertext.subarray(offset, offset + length);
    return fieldChunkResponse(k, data, chunkMac(key, data, k), manifest.total_chunks);
  });
}

/** The PKCS#1 v1.5 encoded message inside a signature; `undefined` if it is not well-formed. */
function encodedMessage(key: KeyObject, signature: string): Buffer | undefined {
  try {
    return publicDecrypt(key, Buffer.from(signature, 'base64'));
  } catch {
    return undefined;
  }
}

const withoutSignature = ({ signature: _s, ...rest }: Record<string, unknown>) => rest;

describe.each(vectors.map((v) => [v.id, v] as const))('fota vector %s', (_id, v) => {
  it('gives the same manifest as the reference server', () => {
    const { manifest } = prepare(v);
    expect(manifest.sha256_hash).toBe(v.firmware_sha256);
    expect(withoutSignature({ ...fieldCheckOffer(manifest) })).toEqual(withoutSignature(v.check_response));
    expect(Buffer.from(manifest.signature, 'base64')).toHaveLength(256);
  });

  it('signs with RSA PKCS#1 v1.5 over SHA-256 of the image, as the field signature is made', () => {
    const { manifest } = prepare(v);
    const digest = createHash('sha256').update(Buffer.from(v.firmware_hex, 'hex')).digest();
    const expected = Buffer.concat([SHA256_DIGEST_INFO, digest]);
    const ours = publicDecrypt(ourKey.publicKey, Buffer.from(manifest.signature, 'base64'));
    expect(ours.equals(expected)).toBe(true);
    expect(prepare(v).manifest.signature).toBe(manifest.signature);
    const field = encodedMessage(fieldPublicKey, v.check_response.signature);
    expect(field?.equals(expected) ?? false).toBe(v.id !== 'tampered-signature');
  });

  it.skipIf(!fieldSigningKeyFile)('reproduces the field signature byte for byte with the field key', () => {
    const key = createPrivateKey(readFileSync(fieldSigningKeyFile as string));
    const { manifest } = prepare(v, key);
    if (v.id !== 'tampered-signature') expect(manifest.signature).toBe(v.check_response.signature);
  });

  it('serves every chunk as the field code consumed it (data, size, HMAC, progress)', () => {
    const { manifest, ciphertext } = prepare(v);
    const served = serve(v, manifest, ciphertext);
    expect(served).toHaveLength(v.chunk_responses.length);
    served.forEach((mine, k) => {
      const field = v.chunk_responses[k];
      expect(mine.progress).toEqual(field.progress);
      const { data, hmac, ...rest } = mine.chunk;
      const { data: fData, hmac: fHmac, ...fRest } = field.chunk;
      expect(rest).toEqual(fRest);
      if (v.id === 'tampered-chunk1-data' && k === 1) {
        // The vector flipped one served byte; the server's bytes differ in exactly that one.
        const a = Buffer.from(data, 'base64');
        const b = Buffer.from(fData, 'base64');
        expect(a.length).toBe(b.length);
        expect([...a].filter((x, i) => x !== b[i])).toHaveLength(1);
      } else {
        expect(data).toBe(fData);
      }
      if (v.chunk_hmacs_match_ascii_key_construction || v.id === 'tampered-chunk1-data') {
        expect(hmac).toBe(fHmac);
      } else {
        expect(hmac).not.toBe(fHmac);
      }
    });
  });

  it('reaches the field verdict, each failure at the right place', () => {
    const receiver = FirmwareReceiver.start(v.check_response as never, {
      aesKey: Buffer.from(v.aes256_key_hex, 'hex'),
      chunkKey: chunkKeyFromText(v.hmac_key_ascii)!,
      publicKey: fieldPublicKey,
    });
    if (!receiver.ok) throw new Error(describeFailure(receiver.failure));
    const r = receiver.value;
    let failedAt: string | undefined;
    for (const { chunk } of v.chunk_responses) {
      const step = r.acceptChunk(chunk as never);
      if (!step.ok) {
        failedAt = describeFailure(step.failure);
        break;
      }
    }
    if (!v.device_result.download_and_apply) {
      // e.g. "Chunk download failed at chunk 1": refused before a byte of it was decrypted.
      const chunk = /chunk (\d+)/.exec(v.device_result.error)![1];
      expect(failedAt).toBe(`chunk ${chunk}: hmac_mismatch`);
      expect(r.image.length).toBe(v.device_result.written_len);
      return;
    }
    expect(failedAt).toBeUndefined();
    expect(r.image.toString('hex')).toBe(v.firmware_hex);
    const verdict = r.verifyBeforeCommit();
    if (v.device_result.verify === 'restarted') {
      expect(verdict.ok).toBe(true);
    } else {
      // The field firmware found out only after making the image bootable; here commit never happens.
      expect(verdict.ok).toBe(false);
      if (!verdict.ok) expect(verdict.failure).toEqual({ stage: 'signature', reason: 'signature_invalid' });
    }
  });
});

describe('the hex-decoded chunk-key construction', () => {
  const v = vectors.find((x) => x.id === 'hmac-hex-decoded-key')!;

  it('is what made the vector HMACs, and is not what the server sends', () => {
    const { manifest, ciphertext } = prepare(v);
    const hexDecoded = Buffer.from(v.hmac_key_ascii, 'hex');
    const ascii = chunkKeyFromText(v.hmac_key_ascii)!;
    expect(ascii).toHaveLength(64);
    for (let k = 0; k < manifest.total_chunks; k++) {
      const { offset, length } = chunkRange(k, manifest.chunk_size, manifest.encrypted_size);
      const data = ciphertext.subarray(offset, offset + length);
      expect(chunkMac(hexDecoded, data, k)).toBe(v.chunk_responses[k].chunk.hmac);
      expect(chunkMac(ascii, data, k)).not.toBe(v.chunk_responses[k].chunk.hmac);
    }
  });
});
