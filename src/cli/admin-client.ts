/** Talks to a running server's admin API on behalf of CLI commands. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { adminTokenFile } from '../admin-token.js';

export interface ClientOptions {
  url?: string;
  token?: string;
  apiKey?: string;
  dataDir?: string;
}

export class CliError extends Error {}

export function addClientOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'server URL (ECOWATT_URL, default http://127.0.0.1:5001)')
    .option('--api-key <key>', 'API key (ECOWATT_API_KEY); wins over the admin token')
    .option('--token <token>', 'admin token (ECOWATT_ADMIN_TOKEN, else read from the data directory)')
    .option('-d, --data-dir <dir>', 'data directory holding admin-token (ECOWATT_DATA_DIR, default ./data)');
}

/**
 * The bearer credential: `--api-key`, `--token`, `ECOWATT_API_KEY`, `ECOWATT_ADMIN_TOKEN` (unless
 * `off`), else the admin token kept in the data directory.
 */
export function resolveToken(o: ClientOptions): string {
  const envToken = process.env.ECOWATT_ADMIN_TOKEN === 'off' ? undefined : process.env.ECOWATT_ADMIN_TOKEN;
  const token = o.apiKey ?? o.token ?? (process.env.ECOWATT_API_KEY || undefined) ?? envToken;
  if (token) return token;
  const file = adminTokenFile(path.resolve(o.dataDir ?? process.env.ECOWATT_DATA_DIR ?? './data'));
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  throw new CliError(
    `no credentials: pass --api-key or --token, set ECOWATT_API_KEY or ECOWATT_ADMIN_TOKEN, or point --data-dir at the server's data (${file} not found)`,
  );
}

export async function adminRequest(
  o: ClientOptions,
  method: string,
  route: string,
  body?: Record<string, unknown>,
): Promise<unknown> {
  const base = (o.url ?? process.env.ECOWATT_URL ?? 'http://127.0.0.1:5001').replace(/\/+$/, '');
  const token = resolveToken(o);
  let res: Response;
  try {
    res = await fetch(`${base}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    throw new CliError(
      `cannot reach ${base}: ${(err as Error).message} (is the server running? ecowatt serve)`,
    );
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    throw new CliError(`server answered ${res.status} with non-JSON: ${text.slice(0, 200)}`);
  }
  if (!res.ok) {
    const e = json as { error?: string; message?: string } | null;
    throw new CliError(`${res.status} ${e?.error ?? ''}: ${e?.message ?? text}`);
  }
  return json;
}

/** Runs an action, printing CliErrors as one line on stderr with exit code 1. */
export function guarded<A extends unknown[]>(
  fn: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (err instanceof CliError) {
        process.stderr.write(`ecowatt: ${err.message}\n`);
        process.exitCode = 1;
        return;
      }
      throw err;
    }
  };
}
