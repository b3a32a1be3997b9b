/**
 * Signs the answers to v2-authenticated requests (see src/protocol/v2-response.ts). The
 * authentication step remembers the request's response key; one onSend hook signs whatever the
 * route answered, errors included.
 */
import type { FastifyInstance } from 'fastify';
import { V2_RESPONSE_MAC_HEADER, type V2ResponseContext, v2ResponseMac } from '../protocol/v2-response.js';

const keys = new WeakMap<object, V2ResponseContext>();

/** Called by the authentication of a v2 request; `token` is the framework's request object. */
export function rememberResponseKey(token: object | undefined, ctx: V2ResponseContext): void {
  if (token) keys.set(token, ctx);
}

export function registerV2ResponseSigning(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply, payload) => {
    const ctx = keys.get(request);
    if (!ctx) return payload;
    if (typeof payload === 'string' || Buffer.isBuffer(payload)) {
      reply.header(V2_RESPONSE_MAC_HEADER, v2ResponseMac(ctx, reply.statusCode, payload));
    }
    return payload;
  });
}
