/**
 * Body parsing shared by the device and admin routes: JSON only (or no content type, as some field
 * clients send), parsed here so that invalid JSON is a coded 400 rather than a framework error.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../model/errors.js';

export function registerJsonBody(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body: Buffer, done) => {
    const type = request.headers['content-type'];
    if (type !== undefined && !/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
      done(
        new ApiError(
          'unsupported_media_type',
          `Content-Type "${type}" is not accepted; send application/json.`,
        ),
      );
      return;
    }
    if (body.length === 0) {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(body.toString('utf8')));
    } catch {
      done(new ApiError('malformed_json'));
    }
  });
}
