/**
 * Operator accounts and API keys: who may sign in or call the admin API, with which role. Every
 * change names its actor and is audited in the store's transaction; a secret is handed out once
 * (a new API key) and kept only as a hash.
 */
import { ApiError, invalidParameter } from '../model/errors.js';
import {
  type ApiKey,
  isRole,
  NAME_PATTERN,
  type Operator,
  PASSWORD_MAX,
  PASSWORD_MIN,
  ROLES,
  type Role,
} from '../model/operator.js';
import type { OperatorStore } from '../ports/operator-store.js';
import { hashPassword } from './password.js';
import { newApiKey } from './secrets.js';

const DAY_MS = 86_400_000;
export const MAX_KEY_DAYS = 3650;

export function checkName(v: unknown, field = 'name'): string {
  if (typeof v !== 'string' || v === '') invalidParameter(field, 'required');
  if (!NAME_PATTERN.test(v))
    invalidParameter(field, 'at most 64 letters, digits, ".", "_" or "-", starting with a letter or digit');
  return v;
}

export function checkRole(v: unknown, field = 'role'): Role {
  if (!isRole(v)) invalidParameter(field, `expected one of ${ROLES.join(', ')}`);
  return v;
}

export function checkPassword(v: unknown, field = 'password'): string {
  if (typeof v !== 'string' || v === '') invalidParameter(field, 'required');
  if (v.length < PASSWORD_MIN || v.length > PASSWORD_MAX)
    invalidParameter(field, `expected ${PASSWORD_MIN} to ${PASSWORD_MAX} characters`);
  return v;
}

export interface NewKey {
  apiKey: ApiKey;
  /** The whole key: shown once, never stored. */
  key: string;
}

export class OperatorService {
  constructor(
    private readonly store: OperatorStore,
    private readonly now: () => number = Date.now,
  ) {}

  list(): Promise<Operator[]> {
    return this.store.listOperators();
  }

  async require(name: string): Promise<Operator> {
    const op = await this.store.getOperator(name);
    if (!op) throw new ApiError('not_found', `No account "${name}".`);
    const { passwordHash: _, ...rest } = op;
    return rest;
  }

  async add(input: { name: unknown; role: unknown; password: unknown }, actor: string): Promise<Operator> {
    const name = checkName(input.name);
    const role = checkRole(input.role);
    const password = checkPassword(input.password);
    const op = await this.store.addOperator({
      name,
      role,
      passwordHash: await hashPassword(password),
      time: this.now(),
      actor,
    });
    if (!op) throw new ApiError('conflict', `An account "${name}" exists already.`);
    return op;
  }

  async setPassword(name: string, password: unknown, actor: string): Promise<Operator> {
    const hash = await hashPassword(checkPassword(password));
    if (!(await this.store.setPassword({ name, time: this.now(), actor }, hash))) {
      throw new ApiError('not_found', `No account "${name}".`);
    }
    return this.require(name);
  }

  async setEnabled(name: string, enabled: boolean, actor: string): Promise<Operator> {
    const op = await this.require(name);
    if (!enabled) await this.keepAnAdmin(op, 'disable');
    await this.store.setEnabled({ name, time: this.now(), actor }, enabled);
    return this.require(name);
  }

  async setRole(name: string, role: unknown, actor: string): Promise<Operator> {
    const r = checkRole(role);
    const op = await this.require(name);
    if (r !== 'admin') await this.keepAnAdmin(op, 'demote');
    if (op.role !== r) await this.store.setRole({ name, time: this.now(), actor }, r);
    return this.require(name);
  }

  /** Refuses to disable or demote the last enabled admin account. */
  private async keepAnAdmin(op: Operator, what: string): Promise<void> {
    if (op.role === 'admin' && op.enabled && (await this.store.countAdmins()) <= 1) {
      throw new ApiError(
        'conflict',
        `"${op.name}" is the last enabled admin account: add another admin before you ${what} it.`,
      );
    }
  }

  listKeys(): Promise<ApiKey[]> {
    return this.store.listApiKeys();
  }

  async createKey(
    input: { name: unknown; role: unknown; expiresDays?: unknown },
    actor: string,
  ): Promise<NewKey> {
    const name = checkName(input.name);
    const role = checkRole(input.role);
    let expiresAt: number | null = null;
    if (input.expiresDays !== undefined && input.expiresDays !== null) {
      const d = input.expiresDays;
      if (typeof d !== 'number' || !Number.isInteger(d) || d < 1 || d > MAX_KEY_DAYS)
        invalidParameter('expires_days', `expected an integer from 1 to ${MAX_KEY_DAYS}`);
      expiresAt = this.now() + d * DAY_MS;
    }
    // A prefix collision is as unlikely as guessing 48 random bits; draw again rather than fail.
    for (let attempt = 0; attempt < 3; attempt++) {
      const secret = newApiKey();
      const existing = await this.store.findApiKey(secret.prefix);
      if (existing) continue;
      const apiKey = await this.store.addApiKey({
        name,
        role,
        prefix: secret.prefix,
        hash: secret.hash,
        expiresAt,
        time: this.now(),
        actor,
      });
      if (!apiKey)
        throw new ApiError('conflict', `An API key "${name}" exists already (revoked ones keep their name).`);
      return { apiKey, key: secret.key };
    }
    throw new Error('could not draw an unused API key prefix');
  }

  async revokeKey(name: string, actor: string): Promise<ApiKey> {
    if (!(await this.store.revokeApiKey({ name, time: this.now(), actor }))) {
      const known = (await this.store.listApiKeys()).some((k) => k.name === name);
      throw known
        ? new ApiError('conflict', `The API key "${name}" is revoked already.`)
        : new ApiError('not_found', `No API key "${name}".`);
    }
    const key = (await this.store.listApiKeys()).find((k) => k.name === name);
    if (!key) throw new ApiError('not_found', `No API key "${name}".`);
    return key;
  }
}
