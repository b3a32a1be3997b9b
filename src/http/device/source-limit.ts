/**
 * The per-source-address limit, applied to device-facing routes before their bodies are parsed,
 * so a flood from one address is refused cheaply.
 */
import type { FastifyInstance } from 'fastify';
import type { Limiter } from '../rate-limit.js';

const DEVICE_PATHS = ['/process', '/changes', '/device_settings', '/ota/', '/commands/'];

export function registerSourceLimit(app: FastifyInstance, limiter: Limiter): void {
  app.addHook('onRequest', async (request) => {
    const url = request.url;
    if (DEVICE_PATHS.some((p) => url === p || url.startsWith(p))) await limiter.take(request.ip);
  });
}
