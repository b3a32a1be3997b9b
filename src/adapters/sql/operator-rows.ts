/** Rows of operator accounts, sessions and API keys, the same for SQLite and PostgreSQL. */
import type { ApiKey, Operator, Role } from '../../model/operator.js';
import type { StoredApiKey, StoredOperator, StoredSession } from '../../ports/operator-store.js';
import { bool } from './row-values.js';

export interface OperatorRow {
  name: string;
  role: string;
  password_hash: string;
  enabled: unknown;
  created_at: number;
  last_sign_in_at: number | null;
  password_changed_at: number;
  failed_sign_ins: number;
  locked_until: number | null;
}

export interface SessionRow {
  id_hash: string;
  name: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
}

export interface ApiKeyRow {
  name: string;
  role: string;
  prefix: string;
  hash: string;
  created_at: number;
  created_by: string;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
}

export function operatorFromRow(r: OperatorRow): Operator {
  return {
    name: r.name,
    role: r.role as Role,
    enabled: bool(r.enabled),
    createdAt: r.created_at,
    lastSignInAt: r.last_sign_in_at,
    passwordChangedAt: r.password_changed_at,
    failedSignIns: r.failed_sign_ins,
    lockedUntil: r.locked_until,
  };
}

export function storedOperatorFromRow(r: OperatorRow): StoredOperator {
  return { ...operatorFromRow(r), passwordHash: r.password_hash };
}

export function sessionFromRow(r: SessionRow): StoredSession {
  return {
    idHash: r.id_hash,
    name: r.name,
    createdAt: r.created_at,
    lastSeenAt: r.last_seen_at,
    expiresAt: r.expires_at,
  };
}

export function apiKeyFromRow(r: ApiKeyRow): ApiKey {
  return {
    name: r.name,
    role: r.role as Role,
    prefix: r.prefix,
    createdAt: r.created_at,
    createdBy: r.created_by,
    expiresAt: r.expires_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
  };
}

export function storedApiKeyFromRow(r: ApiKeyRow): StoredApiKey {
  return { ...apiKeyFromRow(r), hash: r.hash };
}
