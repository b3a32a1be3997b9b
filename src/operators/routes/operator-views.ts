/** JSON shapes of accounts and API keys (their schemas: operator-schemas.ts); hashes never leave. */
import type { Static } from 'typebox';
import type { ApiKey, Operator } from '../../model/operator.js';
import type { ApiKeyView, UserView } from './operator-schemas.js';

const iso = (t: number) => new Date(t).toISOString();
const isoOrNull = (t: number | null) => (t === null ? null : iso(t));

export function userView(u: Operator, now = Date.now()): Static<typeof UserView> {
  return {
    name: u.name,
    role: u.role,
    enabled: u.enabled,
    created_at: iso(u.createdAt),
    last_sign_in_at: isoOrNull(u.lastSignInAt),
    password_changed_at: iso(u.passwordChangedAt),
    failed_sign_ins: u.failedSignIns,
    // A lock that has run out is no lock: the stored time stays until the next sign-in.
    locked_until: u.lockedUntil !== null && u.lockedUntil > now ? iso(u.lockedUntil) : null,
  };
}

export function apiKeyView(k: ApiKey, now = Date.now()): Static<typeof ApiKeyView> {
  return {
    name: k.name,
    role: k.role,
    prefix: `ew_${k.prefix}_`,
    created_at: iso(k.createdAt),
    created_by: k.createdBy,
    expires_at: isoOrNull(k.expiresAt),
    last_used_at: isoOrNull(k.lastUsedAt),
    revoked_at: isoOrNull(k.revokedAt),
    state:
      k.revokedAt !== null ? 'revoked' : k.expiresAt !== null && k.expiresAt <= now ? 'expired' : 'active',
  };
}
