/**
 * Firmware updates for devices (PROTOCOL.md §6.2, §10.9; PROTOCOL-1.3.md §8). The e84f720
 * generation's `POST /ota/check|chunk|verify|complete` with the reference server's exact shapes,
 * and generation 1.3's `GET /ota/check/<id>`, `POST /ota/initiate/<id>`, `GET /ota/chunk/<id>`,
 * `POST /ota/<id>/progress|complete`, all on the same persisted sessions and rollouts; each
 * generation is served its own image. Every request is authenticated like `/changes`: an
 * envelope, or bare where the guard allows unsecured control requests (the firmware sends these
 * bare; a GET has no body to seal). Outcomes reported bare are marked so and never count toward
 * halting a rollout.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import type { ControlCaller, ControlRequestGuard } from '../../devices/control-request-guard.js';
import { authenticate13, controlRequest } from '../../devices/routes/device-reply.js';
import { deviceProtocol } from '../../http/api-schemas.js';
import { ApiError } from '../../model/errors.js';
import type { SessionOutcome } from '../../model/firmware.js';
import { fieldCheckOffer, fieldChunkResponse } from '../../protocol/firmware/field-responses.js';
import { offeredManifest } from '../firmware-catalogue.js';
import type { OtaService } from '../ota-service.js';
import {
  CheckAnswer,
  CheckQuery,
  ChunkAnswer,
  ChunkQuery,
  CompleteAnswer,
  CompleteBody,
  DeviceParams,
  FieldCheckAnswer,
  FieldCheckBody,
  FieldChunkAnswer,
  FieldChunkBody,
  FieldCompleteAnswer,
  FieldCompleteBody,
  FieldVerifyAnswer,
  FieldVerifyBody,
  InitiateAnswer,
  InitiateBody,
  otaErrors,
  ProgressAnswer,
  ProgressBody,
} from './ota-schemas.js';

export interface OtaRouteDeps {
  guard: ControlRequestGuard;
  ota: OtaService;
}

type IdParams = { id: string };
/** Validation stays in the protocol code below: a query is whatever the device sent. */
type DeviceQuery = Record<string, unknown>;

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
  const caller = (request: FastifyRequest): Promise<ControlCaller> =>
    guard.authenticate(controlRequest(request, Date.now()));
  /** Whether the report came in an envelope: outcomes reported bare never count toward a halt. */
  const reporter = (c: ControlCaller) => ({ authenticated: c.protocol !== 'unsecured' });

  // ---- field generation (e84f720) ---------------------------------------------------------

  app.post(
    '/ota/check',
    {
      ...deviceProtocol,
      schema: {
        summary: 'e84f720: check for an update (opens or resumes the session)',
        body: FieldCheckBody,
        response: { 200: FieldCheckAnswer, ...otaErrors() },
      },
    },
    async (request): Promise<Static<typeof FieldCheckAnswer>> => {
      const c = await caller(request);
      const current = text(c.document, 'current_version', true);
      const result = await ota.check(c.device.id, current, 'field', {
        openSession: true,
        authenticated: reporter(c).authenticated,
      });
      if (result.kind === 'offer') return fieldCheckOffer(offeredManifest(result.image));
      return { update_available: false, message: result.reason };
    },
  );

  app.post(
    '/ota/chunk',
    {
      ...deviceProtocol,
      schema: {
        summary: 'e84f720: a chunk of the offered image, with its HMAC',
        description: 'Progress is stored before the answer.',
        body: FieldChunkBody,
        response: { 200: FieldChunkAnswer, ...otaErrors('no_update_session') },
      },
    },
    async (request): Promise<Static<typeof FieldChunkAnswer>> => {
      const c = await caller(request);
      const version = text(c.document, 'version', true);
      const n = chunkNumber(c.document.chunk_number, 'chunk_number');
      const served = await ota.chunk(c.device.id, version, n, 'field');
      return fieldChunkResponse(n, served.data, served.mac ?? '', served.image.totalChunks);
    },
  );

  app.post(
    '/ota/verify',
    {
      ...deviceProtocol,
      schema: {
        summary: "e84f720: the device's verification of the downloaded image",
        body: FieldVerifyBody,
        response: { 200: FieldVerifyAnswer, ...otaErrors() },
      },
    },
    async (request): Promise<Static<typeof FieldVerifyAnswer>> => {
      const c = await caller(request);
      const verified = c.document.verified;
      if (typeof verified !== 'boolean')
        throw new ApiError('malformed_payload', 'verified must be true or false.');
      const outcome: SessionOutcome = verified
        ? { kind: 'verified' }
        : { kind: 'failed', detail: `device verification failed: ${reason(c.document)}` };
      await ota.report(c.device.id, text(c.document, 'version', false), outcome, reporter(c));
      return { status: 'acknowledged', verified };
    },
  );

  app.post(
    '/ota/complete',
    {
      ...deviceProtocol,
      schema: {
        summary: 'e84f720: the update completed (or failed at boot)',
        body: FieldCompleteBody,
        response: { 200: FieldCompleteAnswer, ...otaErrors() },
      },
    },
    async (request): Promise<Static<typeof FieldCompleteAnswer>> => {
      const c = await caller(request);
      const version = text(c.document, 'version', false);
      const boot = typeof c.document.boot_status === 'string' ? c.document.boot_status : 'unknown';
      const outcome: SessionOutcome = FAILED_BOOT.has(boot.toLowerCase())
        ? { kind: 'failed', detail: `boot ${boot}: ${reason(c.document)}` }
        : { kind: 'succeeded', detail: `completed (boot ${boot})` };
      const session = await ota.report(c.device.id, version, outcome, reporter(c));
      return {
        status: 'success',
        message: session
          ? `OTA completion recorded for ${c.device.id}: ${session.state}`
          : `No update session of ${c.device.id} to complete`,
      };
    },
  );

  // ---- generation 1.3 (PROTOCOL-1.3.md §8) ------------------------------------------------
  // Every 1.3 request is bare (the firmware signs none; a GET has no body to seal): the guard
  // accepts it only as its settings allow for generation 1.3 and from the device's address.

  app.get<{ Params: IdParams; Querystring: DeviceQuery }>(
    '/ota/check/:id',
    {
      ...deviceProtocol,
      schema: {
        summary: '1.3: check for an update',
        params: DeviceParams,
        querystring: CheckQuery,
        response: { 200: CheckAnswer, ...otaErrors() },
      },
    },
    async (request): Promise<Static<typeof CheckAnswer>> => {
      const id = request.params.id;
      const c = await authenticate13(guard, request, id, undefined);
      const current = text(request.query, 'version', true);
      const result = await ota.check(c.device.id, current, 'later', {
        openSession: false,
        authenticated: reporter(c).authenticated,
      });
      if (result.kind !== 'offer') {
        return {
          success: true,
          device_id: c.device.id,
          update_available: false,
          update_info: { available: false, current_version: current, message: result.reason },
        };
      }
      // The firmware parses this into a 2048-byte JSON document: no free text (release notes) here.
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
          firmware_size: m.original_size,
          encrypted_size: m.encrypted_size,
          sha256_hash: m.sha256_hash,
          signature: m.signature,
          iv: m.iv,
          chunk_size: m.chunk_size,
          total_chunks: m.total_chunks,
        },
      };
    },
  );

  app.post<{ Params: IdParams }>(
    '/ota/initiate/:id',
    {
      ...deviceProtocol,
      schema: {
        summary: '1.3: start downloading the offered version (opens the session)',
        params: DeviceParams,
        body: InitiateBody,
        response: { 201: InitiateAnswer, ...otaErrors('no_update_session') },
      },
    },
    async (request, reply): Promise<Static<typeof InitiateAnswer>> => {
      const id = request.params.id;
      const c = await authenticate13(guard, request, id, request.body);
      const version = text(c.document, 'firmware_version', true);
      const session = await ota.initiate(
        c.device.id,
        version,
        text(c.document, 'current_version', false),
        reporter(c),
      );
      reply.code(201);
      return { success: true, device_id: c.device.id, session_id: `ota-${session.id}` };
    },
  );

  app.get<{ Params: IdParams; Querystring: DeviceQuery }>(
    '/ota/chunk/:id',
    {
      ...deviceProtocol,
      schema: {
        summary: '1.3: a chunk of the offered image, base64 in JSON',
        description: 'Progress is stored before the answer.',
        params: DeviceParams,
        querystring: ChunkQuery,
        response: { 200: ChunkAnswer, ...otaErrors('no_update_session') },
      },
    },
    async (request): Promise<Static<typeof ChunkAnswer>> => {
      const id = request.params.id;
      const c = await authenticate13(guard, request, id, undefined);
      const version = text(request.query, 'version', true);
      const n = chunkNumber(request.query.chunk, 'chunk');
      const served = await ota.chunk(c.device.id, version, n, 'later');
      // No chunk HMAC: the 1.3 firmware checks none; the image's signature is what it verifies.
      return {
        success: true,
        device_id: c.device.id,
        chunk_index: n,
        chunk_data: served.data.toString('base64'),
        chunk_size: served.data.length,
        total_chunks: served.image.totalChunks,
      };
    },
  );

  app.post<{ Params: IdParams }>(
    '/ota/:id/progress',
    {
      ...deviceProtocol,
      schema: {
        summary: '1.3: progress of the update',
        params: DeviceParams,
        body: ProgressBody,
        response: { 200: ProgressAnswer, ...otaErrors() },
      },
    },
    async (request): Promise<Static<typeof ProgressAnswer>> => {
      const id = request.params.id;
      const c = await authenticate13(guard, request, id, request.body);
      const phase = text(c.document, 'phase', true);
      const outcome: SessionOutcome =
        phase === 'verification_failed' || phase === 'rollback'
          ? { kind: 'failed', detail: `${phase}: ${reason(c.document)}` }
          : phase === 'verification_success'
            ? { kind: 'verified' }
            : { kind: 'phase', phase: phase.slice(0, 64) };
      await ota.report(c.device.id, text(c.document, 'version', false), outcome, reporter(c));
      return { success: true, device_id: c.device.id, message: 'Progress updated' };
    },
  );

  // Sent after every boot with the version the device now runs (PROTOCOL-1.3.md §8.5, §9).
  app.post<{ Params: IdParams }>(
    '/ota/:id/complete',
    {
      ...deviceProtocol,
      schema: {
        summary: '1.3: the version the device runs after a boot',
        params: DeviceParams,
        body: CompleteBody,
        response: { 200: CompleteAnswer, ...otaErrors() },
      },
    },
    async (request): Promise<Static<typeof CompleteAnswer>> => {
      const id = request.params.id;
      const c = await authenticate13(guard, request, id, request.body);
      const version = text(c.document, 'version', true);
      const status = text(c.document, 'status', true);
      await ota.bootReport(c.device.id, version, status, reason(c.document), reporter(c));
      return {
        success: true,
        device_id: c.device.id,
        message: 'OTA completion status received',
        version,
        status,
      };
    },
  );
}
