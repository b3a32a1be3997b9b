/** The admin API client: every call carries the bearer token kept in sessionStorage. */

const TOKEN_KEY = 'ecowatt.adminToken';

export const session = {
  get token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  signIn(token: string): void {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  signOut(): void {
    sessionStorage.removeItem(TOKEN_KEY);
    window.dispatchEvent(new Event('ecowatt:signed-out'));
  },
};

export interface ErrorDetails {
  field?: string;
  /** Field name → what is wrong with it (configuration and command validation). */
  fields?: Record<string, string>;
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
  init: { method?: string; body?: unknown; token?: string } = {},
): Promise<T> {
  const token = init.token ?? session.token;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method: init.method ?? 'GET',
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
    if (res.status === 401 && init.token === undefined) session.signOut();
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
