/**
 * Serves the built dashboard (`dist/web`, made by `npm run build:web`) at `/`. Only the files the
 * build made are served, from a table read at start-up: `/` (index.html, never cached),
 * `/assets/*` (content-hashed names, cached for a year) and the few top-level files. No other
 * path is taken, so device, operations and API routes are never shadowed.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** The page may load only its own scripts and styles and talk only to this server. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

interface StaticFile {
  body: Buffer;
  type: string;
}

/** `dist/web` of the package this module belongs to (found from its own location). */
export function defaultWebDir(from = import.meta.dirname): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) return path.resolve('dist/web');
    dir = up;
  }
  return path.join(dir, 'dist', 'web');
}

function readFiles(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  if (!existsSync(dir)) return files;
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    const type = TYPES[path.extname(name)];
    if (type && statSync(full).isFile()) files.set(name, { body: readFileSync(full), type });
  }
  return files;
}

function pageHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY');
}

export function registerStaticRoutes(app: FastifyInstance, webDir = defaultWebDir()): void {
  const top = readFiles(webDir);
  const assets = readFiles(path.join(webDir, 'assets'));
  const index = top.get('index.html');

  app.get('/', async (_request, reply) => {
    pageHeaders(reply).header('cache-control', 'no-cache');
    if (!index) {
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The dashboard is not built: run `npm run build` (or `npm run build:web`).\n');
    }
    return reply.type(index.type).send(index.body);
  });

  app.get<{ Params: { file: string } }>('/assets/:file', async (request, reply) => {
    const file = assets.get(request.params.file);
    if (!file) {
      return reply.code(404).send({ error: 'not_found', message: 'No such asset.', request_id: request.id });
    }
    pageHeaders(reply).header('cache-control', 'public, max-age=31536000, immutable');
    return reply.type(file.type).send(file.body);
  });

  for (const [name, file] of top) {
    if (name === 'index.html') continue;
    app.get(`/${name}`, async (_request, reply) => {
      pageHeaders(reply).header('cache-control', 'public, max-age=3600');
      return reply.type(file.type).send(file.body);
    });
  }
}
