/**
 * Firmware updates for devices (PROTOCOL.md §6.2, §10.9). The field generation's
 * `POST /ota/check|chunk|verify|complete` with the reference server's exact shapes, and the later
 * firmware's `GET /ota/check/<id>`, `POST /ota/initiate/<id>`, `GET /ota/chunk/<id>`,
 * `POST /ota/<id>/progress|complete`, all on the same persisted sessions. Every request is
 * authenticated like `/changes`: an envelope, or bare where the device's policy allows unsecured
 * control requests (the field firmware sends these bare; a GET has no body to seal).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ControlCaller, ControlRequestGuard } from '../../devices/control-request-guard.js';
import { ApiError } from '../../errors.js';
import { offeredManifest } from '../../firmware/firmware-catalogue.js';
import type { SessionOutcome } from '../../firmware/model.js';
import type { OtaService } from '../../firmware/ota-service.js';
import { isEnvelopeAttempt, isJsonObject } from '../../protocol/envelope-v1.js';
import { isV2Envelope } from '../../protocol/envelope-v2.js';
import { fieldCheckOffer, fieldChunkResponse } from '../../protocol/firmware/field-responses.js';
import { controlRequest } from './device-reply.js';

export interface OtaRouteDeps {
  guard: ControlRequestGuard;
  ota: OtaService;
}

type IdParams = { id: string };

function text(doc: Record<string, unknown>, key: string, required: true): string;
function text(doc: Record<string, unknown>, key: string, required: false): string | undefined;
function text(doc: Record<string, unknown>, key: string, required: boolean): string | undefined {
  const v = doc[key];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > 256) {
    throw new ApiError('malformed_payload', `${key} must be a non-empty string.`);
  }
  return v;
}

function chunkNumber(v: unknown, key: string): number {
  const n = typeof v === 'string' && /^\d{1,9}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new ApiError('malformed_payload', `${key} must be a non-negative integer.`);
  }
  return n;
}

/** A bare later-firmware body names its device by the path; envelopes are left as they are. */
function namingDevice(body: unknown, id: string): unknown {
  if (body === undefined) return { device_id: id };
  if (!isJsonObject(body) || isEnvelopeAttempt(body) || isV2Envelope(body) || body.device_id !== undefined)
    return body;
  return { device_id: id, ...body };
}

/** Words a device uses for a boot that did not take. */
const FAILED_BOOT = new Set(['failed', 'failure', 'error', 'rolled_back', 'rollback', 'invalid']);

function reason(doc: Record<string, unknown>): string {
  for (const key of ['reason', 'error', 'error_msg', 'message']) {
    const v = doc[key];
    if (typeof v === 'string' && v.length > 0) return v.slice(0, 200);
  }
  return 'no reason given';
}

export async function otaDeviceRoutes(app: FastifyInstance, deps: OtaRouteDeps): Promise<void> {
  const { guard, ota } = deps;
  const caller = (
    request: FastifyRequest,
    extra?: { body?: unknown; pathDeviceId?: string },
  ): Promise<ControlCaller> => guard.authenticate(controlRequest(request, Date.now(), extra));

  // ---- field generation (e84f720) ---------------------------------------------------------

  app.post('/ota/check', async (request) => {
    const c = await caller(request);
    const current = text(c.document, 'current_version', true);
    const result = await ota.check(c.device.id, current, 'field', { openSession: true });
    if (result.kind === 'offer') return fieldCheckOffer(offeredManifest(result.image));
    return { update_available: false, message: result.reason };
  });

  app.post('/ota/chunk', async (request) => {
    const c = await caller(request);
    const version = text(c.document, 'version', true);
    const n = chunkNumber(c.document.chunk_number, 'chunk_number');
    const served = await ota.chunk(c.device.id, version, n);
    return fieldChunkResponse(n, served.data, served.mac, served.image.totalChunks);
  });

  app.post('/ota/verify', async (request) => {
    const c = await caller(request);
    const verified = c.document.verified;
    if (typeof verified !== 'boolean')
      throw new ApiError('malformed_payload', 'verified must be true or false.');
    const outcome: SessionOutcome = verified
      ? { kind: 'verified' }
      : { kind: 'failed', detail: `device verification failed: ${reason(c.document)}` };
    await ota.report(c.device.id, text(c.document, 'version', false), outcome);
    return { status: 'acknowledged', verified };
  });

  app.post('/ota/complete', async (request) => {
    const c = await caller(request);
    const version = text(c.document, 'version', false);
    const boot = typeof c.document.boot_status === 'string' ? c.document.boot_status : 'unknown';
    const outcome: SessionOutcome = FAILED_BOOT.has(boot.toLowerCase())
      ? { kind: 'failed', detail: `boot ${boot}: ${reason(c.document)}` }
      : { kind: 'succeeded', detail: `completed (boot ${boot})` };
    const session = await ota.report(c.device.id, version, outcome);
    return {
      status: 'success',
      message: session
        ? `OTA completion recorded for ${c.device.id}: ${session.state}`
        : `No update session of ${c.device.id} to complete`,
    };
  });

  // ---- later firmware (HEAD) --------------------------------------------------------------

  app.get<{ Params: IdParams; Querystring: Record<string, string> }>('/ota/check/:id', async (request) => {
    const id = request.params.id;
    const c = await caller(request, { body: { device_id: id }, pathDeviceId: id });
    const current = text(request.query, 'version', true);
    const result = await ota.check(c.device.id, current, 'later', { openSession: false });
    if (result.kind !== 'offer') {
      return {
        success: true,
        device_id: c.device.id,
        update_available: false,
        update_info: { available: false, current_version: current, message: result.reason },
      };
    }
    const m = offeredManifest(result.image);
    return {
      success: true,
      device_id: c.device.id,
      update_available: true,
      update_info: {
        available: true,
        latest_version: m.version,
        current_version: current,
        original_size: m.original_size,
        encrypted_size: m.encrypted_size,
        firmware_size: m.original_size,
        sha256_hash: m.sha256_hash,
        signature: m.signature,
        iv: m.iv,
        chunk_size: m.chunk_size,
        total_chunks: m.total_chunks,
        release_notes: result.image.notes ?? '',
      },
    };
  });

  app.post<{ Params: IdParams }>('/ota/initiate/:id', async (request, reply) => {
    const id = request.params.id;
    const c = await caller(request, { body: namingDevice(request.body, id), pathDeviceId: id });
    const version = text(c.document, 'firmware_version', true);
    const session = await ota.initiate(c.device.id, version, text(c.document, 'current_version', false));
    reply.code(201);
    return { success: true, device_id: c.device.id, session_id: `ota-${session.id}` };
  });

  app.get<{ Params: IdParams; Querystring: Record<string, string> }>('/ota/chunk/:id', async (request) => {
    const id = request.params.id;
    const c = await caller(request, { body: { device_id: id }, pathDeviceId: id });
    const version = text(request.query, 'version', true);
    const n = chunkNumber(request.query.chunk, 'chunk');
    const served = await ota.chunk(c.device.id, version, n);
    return {
      success: true,
      device_id: c.device.id,
      chunk_index: n,
      chunk_data: served.data.toString('base64'),
      chunk_size: served.data.length,
      hmac: served.mac,
      total_chunks: served.image.totalChunks,
    };
  });

  app.post<{ Params: IdParams }>('/ota/:id/progress', async (request) => {
    const id = request.params.id;
    const c = await caller(request, { body: namingDevice(request.body, id), pathDeviceId: id });
    const phase = text(c.document, 'phase', true);
    const outcome: SessionOutcome =
      phase === 'verification_failed' || phase === 'rollback'
        ? { kind: 'failed', detail: `${phase}: ${reason(c.document)}` }
        : phase === 'verification_success'
          ? { kind: 'verified' }
          : { kind: 'phase', phase };
    await ota.report(c.device.id, text(c.document, 'version', false), outcome);
    return { success: true, device_id: c.device.id, message: 'Progress updated' };
  });

  app.post<{ Params: IdParams }>('/ota/:id/complete', async (request) => {
    const id = request.params.id;
    const c = await caller(request, { body: namingDevice(request.body, id), pathDeviceId: id });
    const version = text(c.document, 'version', true);
    const status = text(c.document, 'status', true);
    const outcome: SessionOutcome =
      status === 'success'
        ? { kind: 'succeeded', detail: 'device reported success' }
        : { kind: 'failed', detail: `${status}: ${reason(c.document)}` };
    await ota.report(c.device.id, version, outcome);
    return {
      success: true,
      device_id: c.device.id,
      message: 'OTA completion status received',
      version,
      status,
    };
  });
}
