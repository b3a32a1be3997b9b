/**
 * The admin API client. A dashboard is signed in one of two ways: with a name and password (the
 * server keeps the session in an httpOnly cookie; each change carries the session's CSRF token),
 * or with the break-glass admin token (kept in this tab's sessionStorage, sent as a bearer).
 */

const TOKEN_KEY = 'ecowatt.adminToken';

export type Role = 'viewer' | 'operator' | 'admin';
const ROLES: Role[] = ['viewer', 'operator', 'admin'];

export interface Me {
  name: string;
  role: Role;
  kind: 'user' | 'apikey' | 'token';
  actor: string;
  csrf_token?: string;
}

let me: Me | null = null;

export const session = {
  get token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  get me(): Me | null {
    return me;
  },
  /** Whether the signed-in role may do what `role` may. */
  can(role: Role): boolean {
    return me !== null && ROLES.indexOf(me.role) >= ROLES.indexOf(role);
  },
  /** Asks the server who this tab is signed in as (cookie or token); `null` when nobody. */
  async load(): Promise<Me | null> {
    try {
      me = await api<Me>('/api/session', { quiet: true });
    } catch {
      me = null;
    }
    return me;
  },
  signInWithToken(token: string): void {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  /** Ends the session on the server too (its cookie stops working everywhere). */
  async signOut(): Promise<void> {
    const wasToken = this.token !== null;
    sessionStorage.removeItem(TOKEN_KEY);
    me = null;
    if (!wasToken) await fetch('/api/session', { method: 'DELETE' }).catch(() => undefined);
    window.dispatchEvent(new Event('ecowatt:signed-out'));
  },
  /** The session ended on the server (401): forget it here. */
  lost(): void {
    sessionStorage.removeItem(TOKEN_KEY);
    me = null;
    window.dispatchEvent(new Event('ecowatt:signed-out'));
  },
};

/** Headers every call carries: the bearer token, or the session's CSRF token for changes. */
export function authHeaders(method: string, token?: string): Record<string, string> {
  const headers: Record<string, string> = {};
  const bearer = token ?? session.token;
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  else if (method !== 'GET' && me?.csrf_token) headers['x-csrf-token'] = me.csrf_token;
  return headers;
}

export interface ErrorDetails {
  field?: string;
  /** Field name → what is wrong with it (configuration and command validation). */
  fields?: Record<string, string>;
  required_role?: string;
  retry_at?: string;
}

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
  }
}

export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; token?: string; quiet?: boolean } = {},
): Promise<T> {
  const method = init.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json', ...authHeaders(method, init.token) };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const err = (json ?? {}) as { error?: string; message?: string; details?: ErrorDetails };
    if (res.status === 401 && init.token === undefined && !init.quiet) session.lost();
    throw new ApiFailure(
      res.status,
      err.error ?? 'http_error',
      err.message ?? `${res.status} ${res.statusText}`,
      err.details ?? {},
    );
  }
  return json as T;
}

export const q = (params: Record<string, string | number | undefined | null>): string => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') s.set(k, String(v));
  const out = s.toString();
  return out ? `?${out}` : '';
};

export const enc = encodeURIComponent;
