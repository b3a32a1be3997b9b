/** The Fastify instance every capability mounts its routes on, with the one error shape. */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { ServerSettings } from '../settings/sections.js';
import { registerErrorHandling } from './error-handler.js';

export function createHttpServer(settings: ServerSettings): FastifyInstance {
  const http = Fastify({
    logger: { level: settings.logLevel },
    bodyLimit: settings.bodyLimit,
    genReqId: () => randomUUID(),
    // Uploads and rejections log their own line; framework request lines only when debugging.
    logController: new LogController({
      disableRequestLogging: settings.logLevel !== 'debug' && settings.logLevel !== 'trace',
    }),
    return503OnClosing: true,
    ...(settings.trustProxy ? { trustProxy: settings.trustProxy.split(',').map((a) => a.trim()) } : {}),
    // Node's defaults never cut off a client that trickles its body, and check headers only every
    // 30 s; slow clients must not be able to hold connections (PROTOCOL.md §10, reliability suite).
    requestTimeout: settings.requestTimeoutMs,
    http: {
      headersTimeout: settings.requestTimeoutMs,
      requestTimeout: settings.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, settings.requestTimeoutMs),
    },
  });
  registerErrorHandling(http);
  return http;
}
