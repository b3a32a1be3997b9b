/**
 * How an expected refusal of a device request leaves the server, for uploads and control requests
 * alike: one security event (stored, counted against the device, fanned out), then an ApiError
 * with the registered code. In development the field documentation's wording is added for the
 * two refusals the reference server named, so a field developer recognises them.
 */
import { ApiError, type ErrorCode } from '../errors.js';
import type { SecurityEvents } from '../observability/security-events.js';
import type { Mode } from '../settings.js';

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
    this.events.refused({
      time: req.receivedAt,
      deviceId: ctx.deviceId ?? null,
      code,
      reason,
      source: req.source,
      nonce: ctx.nonce ?? null,
      requestId: req.requestId,
      ...(ctx.detail ? { detail: ctx.detail } : {}),
    });
    const fieldMessage = FIELD_MESSAGES[code];
    throw new ApiError(
      code,
      this.mode === 'development' && fieldMessage ? `${fieldMessage} (${reason})` : undefined,
    );
  }
}
