/**
 * The one registry of error codes a client can see. Every HTTP error response is
 * `{"error": code, "message": text, "request_id": id}` with the status registered here, so codes
 * stay stable and documented (docs/http-api.md "Error codes"); a test keeps this table and the docs in step.
 */

export const ERROR_CODES = {
  malformed_json: { status: 400, message: 'The request body is not valid JSON.' },
  malformed_envelope: { status: 400, message: 'The security envelope has a field of the wrong type.' },
  malformed_payload: { status: 400, message: 'The upload payload is not a usable telemetry document.' },
  invalid_parameter: { status: 400, message: 'A parameter is invalid.' },
  invalid_firmware: { status: 400, message: 'The firmware image is not acceptable.' },
  no_update_session: {
    status: 400,
    message: 'No update session for this device and version: check for an update first.',
  },
  missing_security_fields: { status: 401, message: 'The security envelope lacks nonce, payload or mac.' },
  authentication_failed: { status: 401, message: 'Authentication failed.' },
  replayed_nonce: { status: 401, message: 'The nonce was not accepted.' },
  unauthorized: {
    status: 401,
    message: 'Sign in, or send an API key or the admin token as `Authorization: Bearer …`.',
  },
  sign_in_failed: { status: 401, message: 'That name and password were not accepted.' },
  unsecured_not_allowed: { status: 403, message: 'This device must send sealed uploads.' },
  encryption_required: { status: 403, message: 'This device must send encrypted uploads.' },
  v2_required: { status: 403, message: 'This device must use protocol v2.' },
  device_disabled: { status: 403, message: 'This device is disabled.' },
  control_source_mismatch: {
    status: 403,
    message:
      "An unsigned control request is accepted only from the address of the device's latest authenticated upload.",
  },
  forbidden: { status: 403, message: 'Your role may not do this.' },
  csrf_failed: {
    status: 403,
    message: 'A change made with a session cookie needs the X-CSRF-Token header from GET /api/session.',
  },
  not_found: { status: 404, message: 'Not found.' },
  conflict: { status: 409, message: 'The resource already exists or is in another state.' },
  firmware_keys_missing: {
    status: 409,
    message: 'No firmware keys: run `ecowatt keys generate` (or `ecowatt keys import`) and restart.',
  },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  unsupported_media_type: { status: 415, message: 'Send the body as application/json.' },
  rate_limited: { status: 429, message: 'Too many requests.' },
  sign_in_locked: { status: 429, message: 'Too many failed sign-ins: try again later.' },
  internal_error: { status: 500, message: 'Internal error.' },
  storage_unavailable: { status: 503, message: 'Storage is unavailable; nothing was stored. Retry later.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An expected rejection with a registered code (not a fault). */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ErrorCode,
    message?: string,
    opts: { details?: Record<string, unknown>; retryAfterSeconds?: number } = {},
  ) {
    super(message ?? ERROR_CODES[code].message);
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.details = opts.details;
    this.retryAfterSeconds = opts.retryAfterSeconds;
  }
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/** `invalid_parameter` naming the field, as schema validation answers (http/validation-error.ts). */
export function invalidParameter(field: string, message: string): never {
  throw new ApiError('invalid_parameter', `${field}: ${message}`, { details: { field } });
}
