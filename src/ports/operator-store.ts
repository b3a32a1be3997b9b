/**
 * Storage port of operator accounts, their sign-in sessions and API keys. Secrets are never
 * stored: passwords as their scrypt hash, session ids and API keys as their SHA-256.
 */
import type { ApiKey, LockPolicy, Operator, Role } from '../model/operator.js';

export interface StoredOperator extends Operator {
  passwordHash: string;
}

export interface NewOperator {
  name: string;
  role: Role;
  passwordHash: string;
  time: number;
  actor: string;
}

export interface StoredApiKey extends ApiKey {
  /** SHA-256 of the whole key, hex. */
  hash: string;
}

export interface NewApiKey {
  name: string;
  role: Role;
  prefix: string;
  hash: string;
  expiresAt: number | null;
  time: number;
  actor: string;
}

export interface NewSession {
  /** SHA-256 of the session id, hex (the id itself lives only in the browser's cookie). */
  idHash: string;
  name: string;
  createdAt: number;
  expiresAt: number;
}

export interface StoredSession {
  idHash: string;
  name: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
}

/** An account change's outcome: `false` when there is no such account (nothing written). */
export interface AccountChange {
  name: string;
  time: number;
  actor: string;
}

export interface OperatorStore {
  /** `null` when an account of that name exists already (nothing written). Audited. */
  addOperator(op: NewOperator): Promise<Operator | null>;
  getOperator(name: string): Promise<StoredOperator | null>;
  listOperators(): Promise<Operator[]>;
  /** How many enabled admin accounts exist. */
  countAdmins(): Promise<number>;
  /** Sets the hash and ends every session of the account. Audited. */
  setPassword(change: AccountChange, passwordHash: string): Promise<boolean>;
  /** Enables or disables the account; disabling ends its sessions. Audited. */
  setEnabled(change: AccountChange, enabled: boolean): Promise<boolean>;
  /** Sets the role (sessions keep going with the new role). Audited. */
  setRole(change: AccountChange, role: Role): Promise<boolean>;
  /** A good sign-in: resets the failure count and lock, records the time. */
  recordSignIn(name: string, time: number): Promise<void>;
  /** A failed sign-in of an existing account: its failure count and lock afterwards. */
  recordSignInFailure(
    name: string,
    time: number,
    policy: LockPolicy,
  ): Promise<{ failures: number; lockedUntil: number | null }>;

  createSession(s: NewSession): Promise<void>;
  getSession(idHash: string): Promise<StoredSession | null>;
  /** Records activity (idle expiry counts from it). */
  touchSession(idHash: string, time: number): Promise<void>;
  deleteSession(idHash: string): Promise<void>;
  /** Drops sessions past their absolute or idle expiry. */
  deleteExpiredSessions(now: number, idleMs: number): Promise<number>;

  /** `null` when a key of that name exists already (revoked ones included). Audited. */
  addApiKey(key: NewApiKey): Promise<ApiKey | null>;
  findApiKey(prefix: string): Promise<StoredApiKey | null>;
  listApiKeys(): Promise<ApiKey[]>;
  /** Revokes an active key. `false` when there is no such active key. Audited. */
  revokeApiKey(change: AccountChange): Promise<boolean>;
  touchApiKey(prefix: string, time: number): Promise<void>;
}
