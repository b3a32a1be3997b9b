/**
 * Short-lived tickets for the live stream: a browser's EventSource cannot send an Authorization
 * header, and the admin token must not travel in a URL (proxies and logs keep URLs). A ticket is
 * `<expiry ms>.<random>.<HMAC-SHA256>` under a key that lives only in this process. A ticket may
 * carry a holder (who asked for it, and how to check they still may), kept here until it expires.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const TICKET_TTL_MS = 60_000;

export class LiveTickets<T = never> {
  private readonly key = randomBytes(32);
  private readonly holders = new Map<string, { holder: T; expiresAt: number }>();

  constructor(private readonly ttlMs = TICKET_TTL_MS) {}

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }

  issue(now = Date.now(), holder?: T): { ticket: string; expiresAt: number } {
    const expiresAt = now + this.ttlMs;
    const body = `${expiresAt}.${randomBytes(12).toString('base64url')}`;
    if (holder !== undefined) {
      for (const [k, h] of this.holders) if (h.expiresAt <= now) this.holders.delete(k);
      if (this.holders.size < 10_000) this.holders.set(body, { holder, expiresAt });
    }
    return { ticket: `${body}.${this.mac(body)}`, expiresAt };
  }

  /** The holder of a valid ticket issued with one (`null` otherwise). */
  redeem(ticket: unknown, now = Date.now()): T | null {
    if (!this.verify(ticket, now)) return null;
    const body = (ticket as string).slice(0, (ticket as string).lastIndexOf('.'));
    return this.holders.get(body)?.holder ?? null;
  }

  /** True for a ticket this process issued that has not expired (constant-time MAC check). */
  verify(ticket: unknown, now = Date.now()): boolean {
    if (typeof ticket !== 'string' || ticket.length > 200) return false;
    const m = /^(\d{1,16})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})$/.exec(ticket);
    if (!m) return false;
    const given = Buffer.from(m[3]);
    const expected = Buffer.from(this.mac(`${m[1]}.${m[2]}`));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
    return Number(m[1]) > now;
  }
}
