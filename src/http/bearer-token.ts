/** Bearer credentials: the token of an `Authorization: Bearer <token>` header, and a constant-time compare. */
import { timingSafeEqual } from 'node:crypto';

/** The token of `Authorization: Bearer <token>`; `null` for any other header, or none. */
export function bearerToken(header: string | undefined): string | null {
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : null;
}

/** Equal strings, compared in constant time (for equal lengths). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
