/** `Authorization: Bearer <token>` compared in constant time with the one expected. */
import { timingSafeEqual } from 'node:crypto';

export function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice(7).trim());
  return given.length === expected.length && timingSafeEqual(given, expected);
}
