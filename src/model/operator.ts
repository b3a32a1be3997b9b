/**
 * Operators and their roles: people (accounts signed in with a password) and API keys, each with
 * one role. Roles are ordered: each one may do everything the one below it may.
 */

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}

/** True when `have` may do what `need` may. */
export function roleAllows(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

/** Who made a request: an account's session, an API key, or the break-glass admin token. */
export type Principal =
  | { kind: 'user'; name: string; role: Role }
  | { kind: 'apikey'; name: string; role: Role }
  | { kind: 'token'; name: 'token'; role: 'admin' };

/** The audit log's name for a principal: `user:<name>`, `apikey:<name>` or `token`. */
export function actorOf(p: Principal): string {
  return p.kind === 'token' ? 'token' : `${p.kind}:${p.name}`;
}

/** Account and API-key names: letters, digits and `._-`, starting with a letter or digit. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 1024;

export interface Operator {
  name: string;
  role: Role;
  enabled: boolean;
  createdAt: number;
  lastSignInAt: number | null;
  /** When the password last changed (sessions made before it are void). */
  passwordChangedAt: number;
  /** Consecutive failed sign-ins since the last good one. */
  failedSignIns: number;
  /** Sign-ins are refused until then (`null`: not locked). */
  lockedUntil: number | null;
}

export interface ApiKey {
  name: string;
  role: Role;
  /** The visible start of the key (`ew_<prefix>_…`), to recognise it. */
  prefix: string;
  createdAt: number;
  createdBy: string;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** How failed sign-ins lock an account (or a source address). */
export interface LockPolicy {
  /** Failures in a row before the first lock. */
  maxFailures: number;
  /** The first lock; each further failure doubles it. */
  lockMs: number;
  /** The longest lock. */
  maxLockMs: number;
}

/** When sign-ins are allowed again after `failures` in a row at `time` (`null`: not locked). */
export function lockedUntil(failures: number, time: number, policy: LockPolicy): number | null {
  if (failures < policy.maxFailures) return null;
  const doublings = Math.min(30, failures - policy.maxFailures);
  return time + Math.min(policy.maxLockMs, policy.lockMs * 2 ** doublings);
}
