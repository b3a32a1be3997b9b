/**
 * A stand-alone simulated device running firmware updates against a server over real HTTP (the
 * procedure itself is `ota-update.ts`, shared with the fleet's devices). Requests go bare or
 * sealed in v1 envelopes with a counter of its own, and are retried while the server does not
 * answer (restarts, overload): the device keeps its download across connection loss and server
 * restarts, resuming from the chunk it had, as the field firmware could not.
 *
 * A bare control request is accepted only from the address of the device's latest authenticated
 * upload: with `upload`, the device makes a sealed upload of one batch before its first check and
 * again every `everyMs`, as a real device's regular uploads would (`POST /process` for e84f720,
 * `POST /aggregated/<id>` in the 1.3 envelope for generation 1.3).
 */
import { DeviceCompressor } from '../protocol/codecs/device-compressor.js';
import { sealV1, type V1Keys } from '../protocol/envelope-v1.js';
import type { DeviceFirmwareKeys } from '../protocol/firmware/device-update.js';
import { NONCE13_BOOT_FLOOR } from '../protocol/gen13/index.js';
import { BATCH_LAYOUT } from '../protocol/registers.js';
import { buildUploadJson } from '../protocol/upload-json.js';
import { sealedUpload13 } from './gen13-uploader.js';
import {
  attemptUpdate,
  type OtaClient,
  type OtaFault,
  type OtaResult,
  OtaServerError,
} from './ota-update.js';

export type { OtaFault, OtaResult } from './ota-update.js';

export interface OtaDeviceOptions {
  url: string;
  id: string;
  /** The version it runs. */
  version: string;
  keys: DeviceFirmwareKeys;
  client: OtaClient;
  /** Seal requests in v1 envelopes with these keys, nonces after `nonce` (default 10000). */
  sign?: { keys: V1Keys; nonce?: number };
  /** Upload (sealed with these keys) before checking, and every `everyMs` (default 300 s). */
  upload?: { keys: V1Keys; everyMs?: number };
  /** The last nonce the device used (its NVS counter; default `sign.nonce`, else 10000; 11000 for 1.3). */
  nonce?: number;
  fault?: OtaFault;
  /** How long to keep retrying a server that does not answer (restart, overload). */
  retryForMs?: number;
  /** Called before each chunk request (tests use it to restart the server at a known point). */
  beforeChunk?: (deviceId: string, chunk: number) => Promise<void>;
  signal?: AbortSignal;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class OtaDevice {
  readonly id: string;
  private running: string;
  private nonce: number;
  /** Requests that had to be retried (no answer, or 503). */
  retries = 0;

  private uploadedAt: number | undefined;

  constructor(private readonly opts: OtaDeviceOptions) {
    this.id = opts.id;
    this.running = opts.version;
    this.nonce = opts.nonce ?? opts.sign?.nonce ?? (opts.client === 'later' ? NONCE13_BOOT_FLOOR : 10_000);
  }

  get version(): string {
    return this.running;
  }

  private body(doc: Record<string, unknown>): string {
    const json = JSON.stringify({ device_id: this.id, ...doc });
    if (!this.opts.sign) return json;
    // A fresh nonce per attempt: a retried request may have been accepted before its answer was lost.
    this.nonce++;
    return sealV1(Buffer.from(json), { nonce: this.nonce, keys: this.opts.sign.keys });
  }

  /** One request, retried while the server is unreachable or restarting. */
  private async request(
    method: 'GET' | 'POST',
    path: string,
    doc?: Record<string, unknown>,
  ): Promise<unknown> {
    const deadline = Date.now() + (this.opts.retryForMs ?? 30_000);
    let backoff = 50;
    for (;;) {
      if (this.opts.signal?.aborted) throw new Error('aborted');
      let res: Response | undefined;
      try {
        res = await fetch(`${this.opts.url.replace(/\/+$/, '')}${path}`, {
          method,
          headers: { 'content-type': 'application/json', 'x-device-id': this.id },
          ...(method === 'POST' ? { body: this.body(doc ?? {}) } : {}),
        });
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
      // 503 (restarting, storage) and 429 (rate limits) are the server asking to come back later.
      if (res && res.status !== 503 && res.status !== 429) {
        const text = await res.text();
        let json: unknown = text;
        try {
          json = JSON.parse(text);
        } catch {
          /* kept as text for the error message */
        }
        if (!res.ok) throw new OtaServerError(res.status, json);
        return json;
      }
      const retryAfter = Number(res?.headers.get('retry-after'));
      if (res) await res.text();
      if (Date.now() > deadline)
        throw new Error(`${path}: no answer for ${this.opts.retryForMs ?? 30_000} ms`);
      this.retries++;
      await sleep(
        Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1000, 5000) : backoff,
      );
      backoff = Math.min(backoff * 2, 1000);
    }
  }

  /** A sealed upload of one batch: what binds the device's bare requests to its address. */
  private async uploadOnce(keys: V1Keys): Promise<void> {
    this.nonce++;
    let route: string;
    let body: string;
    if (this.opts.client === 'later') {
      route = `/aggregated/${encodeURIComponent(this.id)}`;
      body = sealedUpload13(this.id, this.nonce, keys.hmacKey);
    } else {
      const values: number[] = [];
      for (let s = 0; s < 5; s++) values.push(2430 + s, 177, 73, 4331 + 3 * s, 70, 605);
      const { bytes, label } = new DeviceCompressor().compressBatch(values);
      const timestamp = Date.now() % 0xffff_ffff;
      const json = buildUploadJson({
        deviceId: this.id,
        timestamp,
        packets: [{ bytes, label, timestamp, compressionTimeUs: 50, registerLayout: BATCH_LAYOUT }],
        usage: { dictionary: 0, temporal: 0, semantic: 0, bitpack: 0 },
      });
      route = '/process';
      body = sealV1(Buffer.from(json), { nonce: this.nonce, keys });
    }
    const res = await fetch(`${this.opts.url.replace(/\/+$/, '')}${route}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const text = await res.text();
    if (!res.ok) throw new OtaServerError(res.status, text);
    this.uploadedAt = Date.now();
  }

  /** One OTA tick: check, and if offered, download, verify and (only if verified) commit. */
  async checkAndUpdate(): Promise<OtaResult> {
    const up = this.opts.upload;
    if (up && (this.uploadedAt === undefined || Date.now() - this.uploadedAt >= (up.everyMs ?? 300_000))) {
      try {
        await this.uploadOnce(up.keys);
      } catch (err) {
        return { kind: 'error', message: `upload: ${err instanceof Error ? err.message : String(err)}` };
      }
    }
    return attemptUpdate({
      deviceId: this.id,
      running: this.running,
      client: this.opts.client,
      keys: this.opts.keys,
      exchange: (method, path, doc) => this.request(method, path, doc),
      commit: (version) => {
        this.running = version;
      },
      ...(this.opts.fault ? { fault: this.opts.fault } : {}),
      ...(this.opts.beforeChunk ? { beforeChunk: this.opts.beforeChunk } : {}),
    });
  }
}
