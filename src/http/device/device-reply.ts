/**
 * Replies to the field firmware's control requests: it reads the answer into a fixed buffer after
 * the connection closes, so every answer (errors too) carries `Connection: close` and an explicit
 * `Content-Length`, as the reference server sent them.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ControlRequest } from '../../devices/control-request-guard.js';
import { ApiError } from '../../errors.js';
import type { Generation } from '../../model/device.js';
import { rememberResponseKey } from '../v2-response-signing.js';

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
