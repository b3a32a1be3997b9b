/**
 * Operators: accounts with roles, dashboard sessions, API keys and the break-glass admin token,
 * assembled from their store; gives every capability the `AdminAccess` its admin routes check,
 * and mounts the sign-in, account and API-key routes.
 */
import type { FastifyInstance } from 'fastify';
import type { OperatorStore } from '../ports/operator-store.js';
import type { SecurityEvent } from '../ports/storage.js';
import type { OperatorSettings } from '../settings/sections.js';
import { OperatorAccess } from './operator-access.js';
import { OperatorService } from './operator-service.js';
import { operatorRoutes } from './routes/operator-routes.js';
import { sessionRoutes } from './routes/session-routes.js';
import { SignIn } from './sign-in.js';

export interface OperatorsModule {
  access: OperatorAccess;
  service: OperatorService;
  signIn: SignIn;
  register(app: FastifyInstance): Promise<void>;
}

export interface OperatorsDeps {
  store: OperatorStore;
  events: { record(e: SecurityEvent): void };
  /** `null`: the break-glass admin token is off. */
  adminToken: string | null;
}

export function createOperators(settings: OperatorSettings, deps: OperatorsDeps): OperatorsModule {
  const { store } = deps;
  const sessions = {
    idleMs: settings.sessionIdleMinutes * 60_000,
    maxMs: settings.sessionMaxHours * 3_600_000,
  };
  const lockMs = settings.signInLockSeconds * 1000;
  const signIn = new SignIn(
    store,
    deps.events,
    { maxFailures: settings.signInMaxFailures, lockMs, maxLockMs: Math.max(lockMs, 3_600_000) },
    sessions,
  );
  const access = new OperatorAccess(store, deps.adminToken, sessions);
  const service = new OperatorService(store);
  return {
    access,
    service,
    signIn,
    async register(app) {
      await app.register(sessionRoutes, { prefix: '/api', access, signIn, store, operators: service });
      await app.register(operatorRoutes, { prefix: '/api', access, operators: service });
    },
  };
}
