/** The admin API's bearer-token check, for every plugin mounted under /api. */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../model/errors.js';

export function adminTokenMatches(header: string | undefined, expected: Buffer): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice(7).trim());
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Refuses every request of this plugin without the admin token (hooks stay inside the plugin). */
export function requireAdminToken(app: FastifyInstance, token: string): void {
  const expected = Buffer.from(token);
  app.addHook('onRequest', async (request) => {
    if (!adminTokenMatches(request.headers.authorization, expected)) throw new ApiError('unauthorized');
  });
}
