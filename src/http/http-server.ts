/** The Fastify instance every capability mounts its routes on, with the one error shape. */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import pino from 'pino';
import type { ServerSettings } from '../settings/sections.js';
import { addSharedSchemas } from './api-schemas.js';
import { registerErrorHandling } from './error-handler.js';
import { registerRequestValidation } from './request-validation.js';

const LOG_BUFFER_BYTES = 16 * 1024 * 1024;

/** A registered route and the role it declares (`undefined`: none; see admin/admin-auth.ts). */
export interface RouteEntry {
  method: string;
  url: string;
  role: string | undefined;
}

const tables = new WeakMap<FastifyInstance, RouteEntry[]>();

/** Every route registered on `http` so far (HEAD routes made for GET left out). */
export function routeTable(http: FastifyInstance): readonly RouteEntry[] {
  return tables.get(http) ?? [];
}

export function createHttpServer(settings: ServerSettings): FastifyInstance {
  const logger: FastifyBaseLogger = pino(
    { level: settings.logLevel },
    // A line per upload at info: written behind the request, never in its way. A stalled
    // stdout (a slow disk, a reader that pauses) holds at most this much before lines are
    // dropped, instead of blocking every answer; what is buffered is flushed on a normal exit.
    pino.destination({ dest: 1, sync: false, maxLength: LOG_BUFFER_BYTES }),
  );
  const http = Fastify({
    loggerInstance: logger,
    bodyLimit: settings.bodyLimit,
    genReqId: () => randomUUID(),
    // Uploads and rejections log their own line; framework request lines only when debugging.
    logController: new LogController({
      disableRequestLogging: settings.logLevel !== 'debug' && settings.logLevel !== 'trace',
    }),
    return503OnClosing: true,
    ...(settings.trustProxy ? { trustProxy: settings.trustProxy } : {}),
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
  addSharedSchemas(http);
  registerRequestValidation(http);
  const table: RouteEntry[] = [];
  tables.set(http, table);
  http.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      // Read when asked: a plugin's own onRoute hook (the API docs) may declare the role after this one ran.
      table.push({
        method,
        url: route.url,
        get role() {
          return (route.config as { role?: string } | undefined)?.role;
        },
      });
    }
  });
  return http;
}
