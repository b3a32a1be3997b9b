/**
 * Serves the built dashboard (`dist/web`, made by `npm run build:web`) at `/`. Only the files the
 * build made are served, from a table read at start-up: `/` (index.html, never cached),
 * `/assets/*` (content-hashed names, cached for a year) and the few top-level files. No other
 * path is taken, so device, operations and API routes are never shadowed.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { type Static, Type } from 'typebox';
import { errorAnswers } from '../api-schemas.js';

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

/** Media types that are text; the others are documented as binary. */
const TEXT = /^(text\/|application\/json|image\/svg)/;

/** A 200 answer of these files, documented by media type (the bytes are sent as they are). */
function fileAnswer(description: string, files: Iterable<StaticFile>) {
  const types = new Set([...files].map((f) => f.type.split(';')[0]));
  if (types.size === 0) for (const t of Object.values(TYPES)) types.add(t.split(';')[0]);
  const content = Object.fromEntries(
    [...types].map((t) => [t, { schema: TEXT.test(t) ? Type.String() : Type.String({ format: 'binary' }) }]),
  );
  return { description, content };
}

const ERRORS = errorAnswers('not_found');
/** The error answers a file route can give: it takes no parameter and reads no storage. */
const errorsOf = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, ERRORS[s]]));

const AssetParams = Type.Object({
  file: Type.String({ description: 'A file name the build made (content-hashed).' }),
});

export function registerStaticRoutes(app: FastifyInstance, webDir = defaultWebDir()): void {
  const top = readFiles(webDir);
  const assets = readFiles(path.join(webDir, 'assets'));
  const index = top.get('index.html');

  // No type provider here: it would hold these Buffer answers to the schemas' strings.
  app.get(
    '/',
    {
      schema: {
        summary: 'The web dashboard',
        response: {
          200: fileAnswer('The dashboard page (never cached).', index ? [index] : []),
          503: {
            description: 'The dashboard is not built.',
            content: { 'text/plain': { schema: Type.String() } },
          },
          ...errorsOf(500),
        },
      },
    },
    async (_request, reply) => {
      pageHeaders(reply).header('cache-control', 'no-cache');
      if (!index) {
        return reply
          .code(503)
          .type('text/plain; charset=utf-8')
          .send('The dashboard is not built: run `npm run build` (or `npm run build:web`).\n');
      }
      return reply.type(index.type).send(index.body);
    },
  );

  app.get<{ Params: Static<typeof AssetParams> }>(
    '/assets/:file',
    {
      schema: {
        summary: "A file of the dashboard's build (cached for a year)",
        params: AssetParams,
        response: {
          200: fileAnswer('The file, as the build made it.', assets.values()),
          ...errorsOf(404, 500),
        },
      },
    },
    async (request, reply) => {
      const file = assets.get(request.params.file);
      if (!file) {
        return reply
          .code(404)
          .send({ error: 'not_found', message: 'No such asset.', request_id: request.id });
      }
      pageHeaders(reply).header('cache-control', 'public, max-age=31536000, immutable');
      return reply.type(file.type).send(file.body);
    },
  );

  for (const [name, file] of top) {
    if (name === 'index.html') continue;
    app.get(
      `/${name}`,
      {
        schema: {
          summary: `The dashboard's ${name}`,
          response: { 200: fileAnswer('The file, as the build made it.', [file]), ...errorsOf(500) },
        },
      },
      async (_request, reply) => {
        pageHeaders(reply).header('cache-control', 'public, max-age=3600');
        return reply.type(file.type).send(file.body);
      },
    );
  }
}
