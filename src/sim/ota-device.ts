/**
 * A simulated device running the firmware update procedure against a server over real HTTP:
 * check, download every chunk (HMAC verified before decryption, CBC continued across chunks),
 * SHA-256 and RSA signature verified BEFORE the image would be committed, outcome reported.
 * It speaks the field generation's endpoints (`/ota/check`, `/ota/chunk`, …) or the later
 * firmware's (`/ota/check/<id>`, …), bare or sealed in v1 envelopes, and keeps its download across
 * connection loss and server restarts (it resumes from the chunk it had, as the field firmware
 * could not). Faults: a corrupted chunk or signature in transit, an interrupted download.
 */
import { sealV1, type V1Keys } from '../protocol/envelope-v1.js';
import {
  type DeviceFirmwareKeys,
  describeFailure,
  FirmwareReceiver,
  type ServedChunk,
  type UpdateFailure,
} from '../protocol/firmware/device-update.js';
import type { OfferedManifest } from '../protocol/firmware/field-responses.js';

export type OtaFault =
  /** One byte of this chunk's data is flipped on the way: the device must refuse that chunk. */
  | { kind: 'corrupt-chunk'; chunk: number }
  /** One byte of the manifest signature is flipped: the device must refuse to commit. */
  | { kind: 'bad-signature' }
  /** The connection is lost after this chunk for a while; the device then resumes. */
  | { kind: 'interrupt'; chunk: number; pauseMs: number };

export interface OtaDeviceOptions {
  url: string;
  id: string;
  /** The version it runs. */
  version: string;
  keys: DeviceFirmwareKeys;
  client: 'field' | 'later';
  /** Seal requests in v1 envelopes with these keys, nonces after `nonce` (default 10000). */
  sign?: { keys: V1Keys; nonce?: number };
  fault?: OtaFault;
  /** How long to keep retrying a server that does not answer (restart, overload). */
  retryForMs?: number;
  /** Called before each chunk request (tests use it to restart the server at a known point). */
  beforeChunk?: (deviceId: string, chunk: number) => Promise<void>;
  signal?: AbortSignal;
}

export type OtaResult =
  | { kind: 'none'; message: string }
  | { kind: 'updated'; from: string; to: string; chunks: number; resumedAt: number | null }
  | { kind: 'failed'; version: string; failure: UpdateFailure; detail: string }
  | { kind: 'error'; message: string };

class ServerError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`server answered ${status}: ${JSON.stringify(body).slice(0, 200)}`);
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class OtaDevice {
  readonly id: string;
  private running: string;
  private nonce: number;
  /** Requests that had to be retried (no answer, or 503). */
  retries = 0;

  constructor(private readonly opts: OtaDeviceOptions) {
    this.id = opts.id;
    this.running = opts.version;
    this.nonce = opts.sign?.nonce ?? 10_000;
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
        if (!res.ok) throw new ServerError(res.status, json);
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

  private async check(): Promise<OfferedManifest | string> {
    const id = encodeURIComponent(this.id);
    if (this.opts.client === 'field') {
      const r = (await this.request('POST', '/ota/check', { current_version: this.running })) as Record<
        string,
        unknown
      >;
      return r.update_available === true
        ? (r as unknown as OfferedManifest)
        : String(r.message ?? 'no update');
    }
    const r = (await this.request('GET', `/ota/check/${id}?version=${encodeURIComponent(this.running)}`)) as {
      update_available?: boolean;
      update_info?: Record<string, unknown>;
    };
    const info = r.update_info ?? {};
    if (r.update_available !== true) return String(info.message ?? 'no update');
    return { ...(info as unknown as OfferedManifest), version: String(info.latest_version) };
  }

  private async fetchChunk(version: string, k: number): Promise<ServedChunk> {
    if (this.opts.client === 'field') {
      const r = (await this.request('POST', '/ota/chunk', { version, chunk_number: k })) as {
        chunk: ServedChunk;
      };
      return r.chunk;
    }
    const id = encodeURIComponent(this.id);
    const r = (await this.request(
      'GET',
      `/ota/chunk/${id}?version=${encodeURIComponent(version)}&chunk=${k}`,
    )) as { chunk_index: number; chunk_data: string; chunk_size: number; hmac: string };
    return { chunk_number: r.chunk_index, data: r.chunk_data, size: r.chunk_size, hmac: r.hmac };
  }

  private async report(
    version: string,
    ok: boolean,
    detail: string,
    stage: 'verify' | 'complete',
  ): Promise<void> {
    const id = encodeURIComponent(this.id);
    if (this.opts.client === 'field') {
      if (stage === 'verify')
        await this.request('POST', '/ota/verify', { verified: ok, version, reason: detail });
      else await this.request('POST', '/ota/complete', { version, boot_status: ok ? 'success' : 'failed' });
      return;
    }
    if (stage === 'verify') {
      await this.request('POST', `/ota/${id}/progress`, {
        phase: ok ? 'verification_success' : 'verification_failed',
        progress: 100,
        message: detail,
        version,
      });
    } else {
      await this.request('POST', `/ota/${id}/complete`, {
        version,
        status: ok ? 'success' : 'failed',
        error_msg: detail,
      });
    }
  }

  /** Tampering the fault asks for, as if on the wire. */
  private tamper(k: number, chunk: ServedChunk): ServedChunk {
    const f = this.opts.fault;
    if (f?.kind !== 'corrupt-chunk' || f.chunk !== k) return chunk;
    const bytes = Buffer.from(chunk.data, 'base64');
    bytes[bytes.length >> 1] ^= 0x01;
    return { ...chunk, data: bytes.toString('base64') };
  }

  /** One OTA tick: check, and if offered, download, verify and (only if verified) commit. */
  async checkAndUpdate(): Promise<OtaResult> {
    try {
      return await this.update();
    } catch (err) {
      return { kind: 'error', message: err instanceof Error ? err.message : String(err) };
    }
  }

  private async update(): Promise<OtaResult> {
    const offer = await this.check();
    if (typeof offer === 'string') return { kind: 'none', message: offer };
    const manifest: OfferedManifest =
      this.opts.fault?.kind === 'bad-signature'
        ? { ...offer, signature: flipBase64(offer.signature) }
        : offer;
    const started = FirmwareReceiver.start(manifest, this.opts.keys);
    if (!started.ok) return this.fail(manifest.version, started.failure);
    const receiver = started.value;
    if (this.opts.client === 'later') {
      await this.request('POST', `/ota/initiate/${encodeURIComponent(this.id)}`, {
        firmware_version: manifest.version,
        current_version: this.running,
      });
    }
    let resumedAt: number | null = null;
    let k = 0;
    while (k < manifest.total_chunks) {
      await this.opts.beforeChunk?.(this.id, k);
      const step = receiver.acceptChunk(this.tamper(k, await this.fetchChunk(manifest.version, k)));
      if (!step.ok) return this.fail(manifest.version, step.failure);
      const f = this.opts.fault;
      if (f?.kind === 'interrupt' && f.chunk === k && resumedAt === null) {
        // Connectivity lost: nothing is sent for a while; then a new check finds the same session.
        await sleep(f.pauseMs);
        const again = await this.check();
        if (typeof again === 'string' || again.version !== manifest.version) {
          return {
            kind: 'error',
            message: `after the interruption the server offers ${typeof again === 'string' ? again : again.version}`,
          };
        }
        resumedAt = k + 1;
      }
      k++;
    }
    const verdict = receiver.verifyBeforeCommit();
    if (!verdict.ok) return this.fail(manifest.version, verdict.failure);
    await this.report(manifest.version, true, 'sha256 and signature verified', 'verify');
    // Commit: boot the new image, then say it runs.
    const from = this.running;
    this.running = manifest.version;
    await this.report(manifest.version, true, 'booted', 'complete');
    return { kind: 'updated', from, to: manifest.version, chunks: manifest.total_chunks, resumedAt };
  }

  private async fail(version: string, failure: UpdateFailure): Promise<OtaResult> {
    const detail = describeFailure(failure);
    await this.report(version, false, detail, 'verify');
    return { kind: 'failed', version, failure, detail };
  }
}

function flipBase64(b64: string): string {
  const bytes = Buffer.from(b64, 'base64');
  bytes[bytes.length >> 1] ^= 0x01;
  return bytes.toString('base64');
}
