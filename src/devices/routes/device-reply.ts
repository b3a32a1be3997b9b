/**
 * Replies to the field firmware's control requests: it reads the answer into a fixed buffer after
 * the connection closes, so every answer (errors too) carries `Connection: close` and an explicit
 * `Content-Length`, as the reference server sent them.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { rememberResponseKey } from '../../http/v2-response-signing.js';
import type { Generation } from '../../model/device.js';
import { ApiError } from '../../model/errors.js';
import { isEnvelopeAttempt, isJsonObject } from '../../protocol/envelope-v1.js';
import { isV2Envelope } from '../../protocol/envelope-v2.js';
import type { ControlCaller, ControlRequest, ControlRequestGuard } from '../control-request-guard.js';

export function closeAfterReply(app: FastifyInstance): void {
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('connection', 'close');
    if (typeof payload === 'string') reply.header('content-length', Buffer.byteLength(payload));
    return payload;
  });
}

/** The request as the control-request guard needs it; `body` replaces an absent one. */
export function controlRequest(
  request: FastifyRequest,
  receivedAt: number,
  extra: { body?: unknown; pathDeviceId?: string; generation?: Generation } = {},
): ControlRequest {
  const header = request.headers['x-device-id'];
  const body = extra.body ?? request.body;
  if (body === undefined) throw new ApiError('malformed_json', 'The request body is empty.');
  return {
    body,
    onResponseKey: (key) => rememberResponseKey(request, key),
    claimedDeviceId: typeof header === 'string' && header.length > 0 ? header : undefined,
    source: request.ip,
    requestId: request.id,
    receivedAt,
    ...(extra.pathDeviceId !== undefined ? { pathDeviceId: extra.pathDeviceId } : {}),
    ...(extra.generation !== undefined ? { generation: extra.generation } : {}),
  };
}

/** A JSON object that is no envelope: a document as the device wrote it, unsigned. */
export function isBareDocument(body: unknown): body is Record<string, unknown> {
  return isJsonObject(body) && !isEnvelopeAttempt(body) && !isV2Envelope(body);
}

/**
 * The body as the guard reads it: a bare document names its device by the path when it does not
 * say (the 1.3 firmware never does), an absent body (a GET) is just that name; envelopes are left
 * as they are.
 */
export function namingDevice(body: unknown, id: string): unknown {
  if (body === undefined) return { device_id: id };
  return isBareDocument(body) && body.device_id === undefined ? { device_id: id, ...body } : body;
}

/**
 * A 1.3 request to a route that names its device (`…/<id>`), authenticated as that device's: the
 * body (none on a GET) names the device by the path when it does not say.
 */
export function authenticate13(
  guard: ControlRequestGuard,
  request: FastifyRequest,
  id: string,
  body: unknown,
  receivedAt = Date.now(),
): Promise<ControlCaller> {
  return guard.authenticate(
    controlRequest(request, receivedAt, {
      body: namingDevice(body, id),
      pathDeviceId: id,
      generation: '1.3',
    }),
  );
}
