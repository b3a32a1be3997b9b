/**
 * One firmware-update attempt as a device should run it: check, download every chunk, decrypt
 * continuing the CBC chain across chunks, SHA-256 and RSA signature verified BEFORE the image is
 * committed, outcome reported. It speaks the e84f720 generation's endpoints (`/ota/check`,
 * `/ota/chunk`, …; every chunk's HMAC verified before decryption) or generation 1.3's
 * (PROTOCOL-1.3.md §8: `GET /ota/check/<id>`, `initiate`, `GET /ota/chunk/<id>`, progress
 * reports, and after the reboot the boot probe `GET /ota/status` and `POST /ota/<id>/complete`;
 * no chunk HMAC: the 1.3 firmware checks none). How requests reach the server (bare or sealed,
 * which nonce, retries) is the caller's `exchange`, so the stand-alone OTA devices, the fleet's
 * devices and a 1.3 device simulator run this same procedure.
 */
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

/** `field`: generation e84f720; `later`: generation 1.3. */
export type OtaClient = 'field' | 'later';

export type OtaResult =
  | { kind: 'none'; message: string }
  | { kind: 'updated'; from: string; to: string; chunks: number; resumedAt: number | null }
  | { kind: 'failed'; version: string; failure: UpdateFailure; detail: string }
  | { kind: 'error'; message: string };

/** A non-2xx answer: the attempt stops (the next one starts again with a check). */
export class OtaServerError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`server answered ${status}: ${JSON.stringify(body).slice(0, 200)}`);
  }
}

/**
 * One request of the device: `doc` is the JSON body of a POST (the device id is added by the
 * exchange). Resolves with the parsed answer of a 2xx, throws `OtaServerError` otherwise.
 */
export type OtaExchange = (
  method: 'GET' | 'POST',
  path: string,
  doc?: Record<string, unknown>,
) => Promise<unknown>;

export interface OtaAttempt {
  deviceId: string;
  /** The version the device runs now. */
  running: string;
  client: OtaClient;
  /** The keys of the device's generation (a 1.3 client ignores any chunk key: it checks no MAC). */
  keys: DeviceFirmwareKeys;
  exchange: OtaExchange;
  /** Boots the verified image: the device runs `version` from then on. */
  commit: (version: string) => void | Promise<void>;
  fault?: OtaFault;
  /** Called before each chunk request (tests use it to restart the server at a known point). */
  beforeChunk?: (deviceId: string, chunk: number) => Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One OTA tick: check, and if offered, download, verify and (only if verified) commit. */
export async function attemptUpdate(a: OtaAttempt): Promise<OtaResult> {
  try {
    return await update(a);
  } catch (err) {
    return { kind: 'error', message: err instanceof Error ? err.message : String(err) };
  }
}

async function check(a: OtaAttempt): Promise<OfferedManifest | string> {
  if (a.client === 'field') {
    const r = (await a.exchange('POST', '/ota/check', { current_version: a.running })) as Record<
      string,
      unknown
    >;
    return r.update_available === true ? (r as unknown as OfferedManifest) : String(r.message ?? 'no update');
  }
  const id = encodeURIComponent(a.deviceId);
  const r = (await a.exchange('GET', `/ota/check/${id}?version=${encodeURIComponent(a.running)}`)) as {
    update_available?: boolean;
    update_info?: Record<string, unknown>;
  };
  const info = r.update_info ?? {};
  if (r.update_available !== true) return String(info.message ?? 'no update');
  return { ...(info as unknown as OfferedManifest), version: String(info.latest_version) };
}

async function fetchChunk(a: OtaAttempt, version: string, k: number): Promise<ServedChunk> {
  if (a.client === 'field') {
    const r = (await a.exchange('POST', '/ota/chunk', { version, chunk_number: k })) as {
      chunk: ServedChunk;
    };
    return r.chunk;
  }
  const id = encodeURIComponent(a.deviceId);
  const r = (await a.exchange(
    'GET',
    `/ota/chunk/${id}?version=${encodeURIComponent(version)}&chunk=${k}`,
  )) as { success?: boolean; chunk_data: string; chunk_size: number };
  // The 1.3 firmware needs `success` and reads only `chunk_data` and `chunk_size`.
  if (r.success !== true) throw new Error(`chunk ${k}: the answer lacks "success": true`);
  return { chunk_number: k, data: r.chunk_data, size: r.chunk_size };
}

const unixSeconds = () => Math.floor(Date.now() / 1000);

/** A 1.3 progress report: `{phase, progress, message, timestamp}` (no version). */
async function progress(a: OtaAttempt, phase: string, percent: number, message: string): Promise<void> {
  await a.exchange('POST', `/ota/${encodeURIComponent(a.deviceId)}/progress`, {
    phase,
    progress: percent,
    message,
    timestamp: unixSeconds(),
  });
}

async function report(
  a: OtaAttempt,
  version: string,
  ok: boolean,
  detail: string,
  stage: 'verify' | 'complete',
): Promise<void> {
  const id = encodeURIComponent(a.deviceId);
  if (a.client === 'field') {
    if (stage === 'verify')
      await a.exchange('POST', '/ota/verify', { verified: ok, version, reason: detail });
    else await a.exchange('POST', '/ota/complete', { version, boot_status: ok ? 'success' : 'failed' });
    return;
  }
  if (stage === 'verify') {
    await progress(a, ok ? 'verification_success' : 'verification_failed', ok ? 100 : 0, detail);
    return;
  }
  // After the reboot: the boot probe must answer 200, else the diagnostics fail and the 1.3
  // firmware reports nothing; then the version it now runs.
  await a.exchange('GET', '/ota/status');
  await a.exchange('POST', `/ota/${id}/complete`, {
    version,
    status: ok ? 'success' : 'failed',
    timestamp: unixSeconds(),
    ...(ok ? {} : { error_msg: detail }),
  });
}

/** Tampering the fault asks for, as if on the wire. */
function tamper(fault: OtaFault | undefined, k: number, chunk: ServedChunk): ServedChunk {
  if (fault?.kind !== 'corrupt-chunk' || fault.chunk !== k) return chunk;
  const bytes = Buffer.from(chunk.data, 'base64');
  bytes[bytes.length >> 1] ^= 0x01;
  return { ...chunk, data: bytes.toString('base64') };
}

function flipBase64(b64: string): string {
  const bytes = Buffer.from(b64, 'base64');
  bytes[bytes.length >> 1] ^= 0x01;
  return bytes.toString('base64');
}

async function update(a: OtaAttempt): Promise<OtaResult> {
  const offer = await check(a);
  if (typeof offer === 'string') return { kind: 'none', message: offer };
  const manifest: OfferedManifest =
    a.fault?.kind === 'bad-signature' ? { ...offer, signature: flipBase64(offer.signature) } : offer;
  // The 1.3 firmware checks no chunk HMAC, whatever keys it is given.
  const keys = a.client === 'later' ? { ...a.keys, chunkKey: null } : a.keys;
  const started = FirmwareReceiver.start(manifest, keys);
  if (!started.ok) return fail(a, manifest.version, started.failure);
  const receiver = started.value;
  if (a.client === 'later') {
    // As the firmware: only the version (the server knows the running one from the check).
    const r = (await a.exchange('POST', `/ota/initiate/${encodeURIComponent(a.deviceId)}`, {
      firmware_version: manifest.version,
    })) as { success?: boolean; session_id?: unknown };
    if (r.success !== true) return { kind: 'error', message: 'initiate: no "success": true' };
    await progress(a, 'downloading', 0, 'Starting firmware download...');
  }
  let resumedAt: number | null = null;
  let k = 0;
  while (k < manifest.total_chunks) {
    await a.beforeChunk?.(a.deviceId, k);
    const step = receiver.acceptChunk(tamper(a.fault, k, await fetchChunk(a, manifest.version, k)));
    if (!step.ok) return fail(a, manifest.version, step.failure);
    const f = a.fault;
    if (f?.kind === 'interrupt' && f.chunk === k && resumedAt === null) {
      // Connectivity lost: nothing is sent for a while; then a new check finds the same session.
      await sleep(f.pauseMs);
      const again = await check(a);
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
  if (a.client === 'later') await progress(a, 'download_complete', 100, 'Download complete, verifying');
  const verdict = receiver.verifyBeforeCommit();
  if (!verdict.ok) return fail(a, manifest.version, verdict.failure);
  await report(a, manifest.version, true, 'sha256 and signature verified', 'verify');
  // Commit: boot the new image, then say it runs.
  const from = a.running;
  await a.commit(manifest.version);
  await report(a, manifest.version, true, 'booted', 'complete');
  return { kind: 'updated', from, to: manifest.version, chunks: manifest.total_chunks, resumedAt };
}

async function fail(a: OtaAttempt, version: string, failure: UpdateFailure): Promise<OtaResult> {
  const detail = describeFailure(failure);
  await report(a, version, false, detail, 'verify');
  return { kind: 'failed', version, failure, detail };
}
