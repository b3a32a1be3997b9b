/**
 * The one place a security event is written: stored, counted against its device, logged, and
 * fanned out to the live feeds (alert engine, metrics, dashboard). Ingestion and the control
 * request guard both write here, so a replay on `/changes` reaches the same alerts as one on
 * `/process`.
 */
import type { FastifyBaseLogger as Logger } from 'fastify';
import type { SecurityEvent, Storage } from '../ports/storage.js';

type EventStorage = Pick<Storage, 'recordSecurityEvent' | 'countReject'>;

export class SecurityEvents {
  private readonly listeners: ((event: SecurityEvent) => void)[] = [];

  constructor(
    private readonly storage: EventStorage,
    private readonly log: Logger,
  ) {}

  /** Listeners must be quick and must not throw (one that does is logged and skipped). */
  onEvent(listener: (event: SecurityEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Stores and fans out an event that is not a refusal (quarantine, gap, counter reset …). */
  record(event: SecurityEvent): void {
    this.storage.recordSecurityEvent(event);
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.log.error({ err }, 'security event listener failed');
      }
    }
  }

  /** A refused request: the event, the device's reject counter and a warning line. */
  refused(event: SecurityEvent): void {
    this.record(event);
    if (event.deviceId !== null) this.storage.countReject(event.deviceId, event.code);
    this.log.warn({
      event: 'security',
      device: event.deviceId,
      code: event.code,
      reason: event.reason,
      source: event.source,
      nonce: event.nonce,
    });
  }
}
