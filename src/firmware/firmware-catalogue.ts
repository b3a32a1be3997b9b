/**
 * The firmware catalogue: an upload is encrypted, hashed and signed as it streams in (the
 * plaintext is never written to disk), its ciphertext and §6.1 manifest are stored under
 * `<data dir>/firmware/`, and the catalogue row in the database. Chunks are read from the file by
 * offset, so serving never holds an image in memory.
 *
 * Images are per firmware generation: one version may be added once per generation, each
 * prepared under that generation's key set (both generations take the same preparation: SHA-256
 * of the image, RSA PKCS#1 v1.5 / SHA-256 signature, AES-256-CBC with the manifest IV as one
 * chained stream cut into chunks; only e84f720 devices also check a chunk HMAC).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { link, open, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ApiError } from '../model/errors.js';
import type { FirmwareImage, Generation } from '../model/firmware.js';
import type { FirmwareStore } from '../ports/firmware-store.js';
import type { OfferedManifest } from '../protocol/firmware/field-responses.js';
import {
  buildManifest,
  chunkRange,
  ESP32_IMAGE_MAGIC,
  FirmwareSealer,
} from '../protocol/firmware/manifest.js';
import { compareSemver, MAX_VERSION_LENGTH, parseSemver } from '../protocol/firmware/semver.js';
import { DEFAULT_GENERATION, type FirmwareKeys } from './firmware-keys.js';

export interface CatalogueConfig {
  dataDir: string;
  /** Largest image accepted, bytes. */
  maxBytes: number;
  chunkSize: number;
  /** Where the keys are expected, for messages. */
  keyDir: string;
}

export interface NewImage {
  version: string;
  /** The generation of the devices that will download it (default e84f720). */
  generation?: Generation;
  notes: string | null;
  /** Accept an image whose first byte is not the ESP32 magic. */
  force: boolean;
  source: AsyncIterable<Uint8Array>;
  /** The declared length (Content-Length), refused early when too large. */
  declaredSize?: number;
  actor: string;
}

export const FIRMWARE_SUBDIR = 'firmware';

/** The manifest fields a device is offered (§6.2 check response). */
export function offeredManifest(image: FirmwareImage): OfferedManifest {
  return {
    version: image.version,
    original_size: image.originalSize,
    encrypted_size: image.encryptedSize,
    total_chunks: image.totalChunks,
    chunk_size: image.chunkSize,
    sha256_hash: image.sha256,
    signature: image.signature,
    iv: image.iv,
  };
}

const fallback = parseSemver('0.0.0') as NonNullable<ReturnType<typeof parseSemver>>;
const GENERATION_ORDER: Record<Generation, number> = { e84f720: 0, '1.3': 1 };
const newestFirst = (a: FirmwareImage, b: FirmwareImage) =>
  compareSemver(parseSemver(b.version) ?? fallback, parseSemver(a.version) ?? fallback) ||
  GENERATION_ORDER[a.generation] - GENERATION_ORDER[b.generation];

/** Where an image's files go: e84f720 keeps the pre-generation names. */
export function imageFileStem(version: string, generation: Generation): string {
  return generation === DEFAULT_GENERATION ? `firmware_${version}` : `firmware_${version}_gen${generation}`;
}

export class FirmwareCatalogue {
  private readonly dir: string;
  private readonly keySets = new Map<Generation, FirmwareKeys>();

  /** `keys`: the key sets loaded (one per generation at most), or a single set. */
  constructor(
    private readonly store: FirmwareStore,
    keys: FirmwareKeys | readonly FirmwareKeys[] | undefined,
    private readonly config: CatalogueConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.dir = path.join(config.dataDir, FIRMWARE_SUBDIR);
    const sets = keys === undefined ? [] : Array.isArray(keys) ? keys : [keys as FirmwareKeys];
    for (const k of sets) this.keySets.set(k.generation, k);
  }

  get maxBytes(): number {
    return this.config.maxBytes;
  }

  /** The e84f720 set (as before generations existed). */
  get keys(): FirmwareKeys | undefined {
    return this.keySets.get(DEFAULT_GENERATION);
  }

  keysFor(generation: Generation): FirmwareKeys | undefined {
    return this.keySets.get(generation);
  }

  requireKeys(generation: Generation = DEFAULT_GENERATION): FirmwareKeys {
    const keys = this.keySets.get(generation);
    if (!keys) {
      const opt = generation === DEFAULT_GENERATION ? '' : ` --generation ${generation}`;
      throw new ApiError(
        'firmware_keys_missing',
        `No ${generation} firmware keys in ${this.config.keyDir}: run \`ecowatt keys generate${opt}\` (new fleet) or \`ecowatt keys import${opt}\` (keys of devices in the field), then restart the server.`,
      );
    }
    return keys;
  }

  /** Whether devices can be served this image: it was prepared with its generation's keys loaded now. */
  servable(image: FirmwareImage): boolean {
    const keys = this.keySets.get(image.generation);
    return keys !== undefined && image.keyId === keys.keyId;
  }

  async list(): Promise<FirmwareImage[]> {
    return (await this.store.listImages()).sort(newestFirst);
  }

  /** Every generation's image of a version. */
  async imagesOf(version: string): Promise<FirmwareImage[]> {
    return (await this.store.listImages()).filter((i) => i.version === version).sort(newestFirst);
  }

  async get(
    version: string,
    generation: Generation = DEFAULT_GENERATION,
  ): Promise<FirmwareImage | undefined> {
    return this.store.getImage(version, generation);
  }

  async require(version: string, generation?: Generation): Promise<FirmwareImage> {
    const image =
      generation !== undefined
        ? await this.store.getImage(version, generation)
        : (await this.imagesOf(version))[0];
    if (!image) {
      throw new ApiError(
        'not_found',
        `No firmware ${version}${generation ? ` for generation ${generation}` : ''} in the catalogue.`,
      );
    }
    return image;
  }

  /**
   * A version's text is one release across generations: the same text may be added once per
   * generation; a different text of the same precedence (`1.0.4+b2` next to `1.0.4`) never.
   */
  private async checkVersion(version: string, generation: Generation): Promise<void> {
    const v = parseSemver(version);
    if (!v) {
      throw new ApiError(
        'invalid_parameter',
        `version: "${version}" is not a semantic version (X.Y.Z[-pre][+build])`,
        {
          details: { field: 'version' },
        },
      );
    }
    for (const image of await this.store.listImages()) {
      const other = parseSemver(image.version);
      if (!other || compareSemver(v, other) !== 0) continue;
      if (image.version !== version) {
        throw new ApiError(
          'conflict',
          `Firmware ${version} has the same precedence as ${image.version}: a device could not tell them apart.`,
        );
      }
      if (image.generation === generation) {
        throw new ApiError(
          'conflict',
          generation === DEFAULT_GENERATION
            ? `Firmware ${version} is already in the catalogue.`
            : `Firmware ${version} is already in the catalogue for generation ${generation}.`,
        );
      }
    }
  }

  async add(input: NewImage): Promise<FirmwareImage> {
    const generation = input.generation ?? DEFAULT_GENERATION;
    const keys = this.requireKeys(generation);
    if (input.version.length > MAX_VERSION_LENGTH) {
      throw new ApiError('invalid_parameter', `version: at most ${MAX_VERSION_LENGTH} characters`, {
        details: { field: 'version' },
      });
    }
    await this.checkVersion(input.version, generation);
    if (input.declaredSize !== undefined && input.declaredSize > this.config.maxBytes) {
      throw new ApiError('payload_too_large', `The image is larger than ${this.config.maxBytes} bytes.`);
    }
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(this.dir, `.upload-${randomUUID()}`);
    const iv = randomBytes(16);
    const sealer = new FirmwareSealer({ aesKey: keys.aesKey, signingKey: keys.signingKey }, iv);
    const out = await open(tmp, 'wx', 0o600);
    let digest: ReturnType<FirmwareSealer['final']>['digest'];
    try {
      for await (const piece of input.source) {
        if (sealer.bytesIn + piece.length > this.config.maxBytes) {
          throw new ApiError('payload_too_large', `The image is larger than ${this.config.maxBytes} bytes.`);
        }
        const ct = sealer.update(piece);
        if (sealer.magic !== undefined && sealer.magic !== ESP32_IMAGE_MAGIC && !input.force) {
          throw new ApiError(
            'invalid_firmware',
            `The image starts with 0x${sealer.magic.toString(16).padStart(2, '0')}, not the ESP32 image magic 0xE9: devices would refuse it. Pass force to add it anyway.`,
          );
        }
        if (ct.length > 0) await out.write(ct);
      }
      if (sealer.bytesIn === 0) throw new ApiError('invalid_firmware', 'The image is empty.');
      const final = sealer.final();
      await out.write(final.tail);
      await out.sync();
      digest = final.digest;
    } catch (err) {
      await out.close();
      await rm(tmp, { force: true });
      throw err;
    }
    await out.close();
    return this.catalogue(input, generation, keys, tmp, iv, digest, sealer.magic !== ESP32_IMAGE_MAGIC);
  }

  /** Puts the sealed file in place and the row in the database, without ever replacing a file. */
  private async catalogue(
    input: NewImage,
    generation: Generation,
    keys: FirmwareKeys,
    tmp: string,
    iv: Buffer,
    digest: ReturnType<FirmwareSealer['final']>['digest'],
    forced: boolean,
  ): Promise<FirmwareImage> {
    const createdAt = this.now();
    const manifest = buildManifest({
      version: input.version,
      digest,
      iv,
      chunkSize: this.config.chunkSize,
      timestamp: new Date(createdAt),
    });
    const stem = imageFileStem(input.version, generation);
    const encryptedFile = path.join(FIRMWARE_SUBDIR, `${stem}_encrypted.bin`);
    const manifestFile = path.join(FIRMWARE_SUBDIR, `${stem}_manifest.json`);
    const abs = (f: string) => path.join(this.config.dataDir, f);
    try {
      // link() refuses an existing name: two uploads of one version cannot overwrite each other.
      await link(tmp, abs(encryptedFile));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new ApiError('conflict', `Firmware ${input.version} (${generation}) is already stored.`);
      }
      throw err;
    } finally {
      await rm(tmp, { force: true });
    }
    await writeFile(abs(manifestFile), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    const image: FirmwareImage = {
      version: manifest.version,
      generation,
      originalSize: manifest.original_size,
      encryptedSize: manifest.encrypted_size,
      chunkSize: manifest.chunk_size,
      totalChunks: manifest.total_chunks,
      sha256: manifest.sha256_hash,
      signature: manifest.signature,
      iv: manifest.iv,
      keyId: keys.keyId,
      notes: input.notes,
      forced,
      encryptedFile,
      manifestFile,
      createdAt,
    };
    const stored = await this.store.insertImage(image, {
      time: createdAt,
      actor: input.actor,
      action: 'firmware.added',
      deviceId: null,
      reason: input.notes,
      detail: {
        version: image.version,
        generation,
        sha256: image.sha256,
        size: image.originalSize,
        forced: image.forced,
      },
    });
    if (!stored) {
      await rm(abs(encryptedFile), { force: true });
      await rm(abs(manifestFile), { force: true });
      throw new ApiError(
        'conflict',
        `Firmware ${input.version} is already in the catalogue for generation ${generation}.`,
      );
    }
    return stored;
  }

  /** Reads one chunk of the ciphertext from disk. */
  async readChunk(image: FirmwareImage, n: number): Promise<Buffer> {
    const { offset, length } = chunkRange(n, image.chunkSize, image.encryptedSize);
    const buf = Buffer.alloc(length);
    const file = await open(path.join(this.config.dataDir, image.encryptedFile), 'r');
    try {
      let read = 0;
      while (read < length) {
        const { bytesRead } = await file.read(buf, read, length - read, offset + read);
        if (bytesRead === 0)
          throw new Error(`firmware file ${image.encryptedFile} is shorter than its manifest`);
        read += bytesRead;
      }
    } finally {
      await file.close();
    }
    return buf;
  }
}
