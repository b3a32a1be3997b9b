/**
 * A storage call on a device request's path. When the database fails (stopped, locked, disk
 * full) the device gets 503 `storage_unavailable` with Retry-After: nothing was stored and it
 * should retry (PROTOCOL.md §10.3), never a 500.
 */
import type { FastifyBaseLogger } from 'fastify';
import { ApiError } from '../model/errors.js';

export const STORAGE_RETRY_AFTER_SECONDS = 5;

export async function storageCall<T>(
  log: FastifyBaseLogger,
  what: string,
  call: () => Promise<T>,
  context: Record<string, unknown> = {},
): Promise<T> {
  try {
    return await call();
  } catch (err) {
    log.error({ err, ...context }, `${what} failed; nothing stored`);
    throw new ApiError('storage_unavailable', undefined, { retryAfterSeconds: STORAGE_RETRY_AFTER_SECONDS });
  }
}
