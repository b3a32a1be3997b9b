/**
 * How an expected refusal of a device request leaves the server, for uploads and control requests
 * alike: one security event (stored, counted against the device, fanned out), then an ApiError
 * with the registered code. In development the field documentation's wording is added for the
 * two refusals the reference server named, so a field developer recognises them.
 *
 * A refusal is also a value (`Refusal`), so a pipeline stage can return it and let the caller
 * tell it (`Refusals.answer`): the upload path ends at its first refusal without an exception.
 */
import { ApiError, ERROR_CODES, type ErrorCode } from '../model/errors.js';
import type { SecurityEvents } from '../observability/security-events.js';
import type { Mode } from '../settings/sections.js';

/** What every device request carries for its events. */
export interface RequestFacts {
  source: string;
  requestId: string;
  receivedAt: number;
}

export interface RefusalContext {
  deviceId?: string | null;
  nonce?: number | null;
  detail?: Record<string, unknown>;
}

/** The security event a refusal is recorded as, with its exact reason (told to the device only in development). */
export interface RefusalEvent extends RefusalContext {
  reason: string;
}

export interface Refusal {
  code: ErrorCode;
  /** The HTTP status the code is registered with. */
  status: number;
  /** Said instead of the code's registered message. */
  message?: string;
  /** Absent for a refusal that is no security matter (an unreadable document, a rate limit). */
  event?: RefusalEvent;
  retryAfterSeconds?: number;
  details?: Record<string, unknown>;
}

/** What a stage of a device request gives the next one, or why the request ends there. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; refusal: Refusal };

export function refused(refusal: Refusal): { ok: false; refusal: Refusal } {
  return { ok: false, refusal };
}

/** A refusal recorded as a security event (authentication, replay, policy). */
export function refusal(code: ErrorCode, reason: string, ctx: RefusalContext = {}): Refusal {
  return { code, status: ERROR_CODES[code].status, event: { reason, ...ctx } };
}

/** A refusal answered without an event: the device is told why, nobody is alerted. */
export function quietRefusal(
  code: ErrorCode,
  message?: string,
  opts: { retryAfterSeconds?: number; details?: Record<string, unknown> } = {},
): Refusal {
  return { code, status: ERROR_CODES[code].status, message, ...opts };
}

const FIELD_MESSAGES: Partial<Record<ErrorCode, string>> = {
  replayed_nonce: 'Replay attack detected',
  authentication_failed: 'HMAC verification failed',
};

export class Refusals {
  constructor(
    private readonly events: SecurityEvents,
    private readonly mode: Mode,
  ) {}

  refuse(req: RequestFacts, code: ErrorCode, reason: string, ctx: RefusalContext = {}): never {
    return this.answer(req, refusal(code, reason, ctx));
  }

  /** Records the refusal's event, if it has one, and throws the ApiError the error handler sends. */
  answer(req: RequestFacts, r: Refusal): never {
    const event = r.event;
    if (event) {
      this.events.refused({
        time: req.receivedAt,
        deviceId: event.deviceId ?? null,
        code: r.code,
        reason: event.reason,
        source: req.source,
        nonce: event.nonce ?? null,
        requestId: req.requestId,
        ...(event.detail ? { detail: event.detail } : {}),
      });
    }
    const fieldMessage = FIELD_MESSAGES[r.code];
    const message =
      r.message ??
      (event && this.mode === 'development' && fieldMessage
        ? `${fieldMessage} (${event.reason})`
        : undefined);
    throw new ApiError(r.code, message, { details: r.details, retryAfterSeconds: r.retryAfterSeconds });
  }
}
