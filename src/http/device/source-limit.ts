/**
 * The per-source-address limit, applied to device-facing routes before their bodies are parsed,
 * so a flood from one address is refused cheaply.
 */
import type { FastifyInstance } from 'fastify';
import type { RateLimiter } from '../rate-limit.js';

const DEVICE_PATHS = ['/process', '/changes', '/device_settings', '/ota/', '/commands/'];

export function registerSourceLimit(app: FastifyInstance, limiter: RateLimiter): void {
  app.addHook('onRequest', async (request) => {
    const url = request.url;
    if (DEVICE_PATHS.some((p) => url === p || url.startsWith(p))) limiter.take(request.ip);
  });
}
