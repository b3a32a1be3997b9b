/**
 * Maps every failure to the one error shape `{"error", "message", "request_id"}` with a
 * registered code, so a client never sees a framework's own error format or a bare 500.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { ApiError, ERROR_CODES, type ErrorCode } from '../model/errors.js';
import { invalidField } from './validation-error.js';

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'malformed_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'malformed_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'malformed_json',
};

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | ApiError, request, reply) => {
    let code: ErrorCode;
    let message: string;
    let details: Record<string, unknown> | undefined;
    if (err instanceof ApiError) {
      code = err.code;
      message = err.message;
      details = err.details;
      if (err.retryAfterSeconds !== undefined) reply.header('Retry-After', String(err.retryAfterSeconds));
    } else if (err.code && FASTIFY_CODES[err.code]) {
      code = FASTIFY_CODES[err.code];
      message = ERROR_CODES[code].message;
    } else if (err.validation) {
      code = 'invalid_parameter';
      const invalid = invalidField(err.validation, err.validationContext);
      message = invalid.message;
      details = { field: invalid.field };
    } else if (err instanceof SyntaxError || err.statusCode === 400) {
      code = 'malformed_json';
      message = ERROR_CODES.malformed_json.message;
    } else if (err.statusCode === 413) {
      code = 'payload_too_large';
      message = ERROR_CODES.payload_too_large.message;
    } else if (err.statusCode === 415) {
      code = 'unsupported_media_type';
      message = ERROR_CODES.unsupported_media_type.message;
    } else {
      request.log.error({ err }, 'unhandled error');
      code = 'internal_error';
      message = ERROR_CODES.internal_error.message;
    }
    reply
      .code(ERROR_CODES[code].status)
      .send({ error: code, message, request_id: request.id, ...(details ? { details } : {}) });
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({
      error: 'not_found',
      message: `No route ${request.method} ${request.url}.`,
      request_id: request.id,
    });
  });
}
