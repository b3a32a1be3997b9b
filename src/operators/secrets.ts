/**
 * The secrets handed out: API keys (`ew_<prefix>_<secret>`; the prefix is stored in clear to find
 * and recognise the key, the whole key only as its SHA-256) and session ids (in the browser's
 * cookie only; stored as their SHA-256). A session's CSRF token is derived from its id.
 */
import { createHash, randomBytes } from 'node:crypto';

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

const API_KEY = /^ew_([A-Za-z0-9]{8})_([A-Za-z0-9_-]{32,64})$/;

export function newApiKey(): { key: string; prefix: string; hash: string } {
  const prefix = randomBytes(6).toString('base64url').replace(/[-_]/g, 'x').slice(0, 8);
  const key = `ew_${prefix}_${randomBytes(32).toString('base64url')}`;
  return { key, prefix, hash: sha256(key) };
}

/** The prefix of something shaped like an API key, else `null`. */
export function apiKeyPrefix(bearer: string): string | null {
  return API_KEY.exec(bearer)?.[1] ?? null;
}

export function newSessionId(): string {
  return randomBytes(32).toString('base64url');
}

export function csrfTokenOf(sessionId: string): string {
  return createHash('sha256').update(`csrf:${sessionId}`).digest('base64url');
}
