/** Starts the real server as a child process on a free port, as a user would run it. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { profileSchemaUrl } from './services.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
const ENTRY = path.join(ROOT, 'dist/src/main.js');

export interface RunningServer {
  url: string;
  port: number;
  adminToken: string;
  dataDir: string;
  /** The broker URL the server printed (`undefined` when MQTT is off). */
  mqttUrl: string | undefined;
  proc: ChildProcess;
  output: () => string;
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL (no cleanup at all) and wait for exit. */
  kill(): Promise<void>;
  admin(method: string, route: string, body?: unknown): Promise<{ status: number; json: any }>;
}

export function tempDataDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'ecowatt-test-'));
}

export async function startServer(
  opts: { dataDir?: string; env?: Record<string, string>; port?: number; args?: string[] } = {},
): Promise<RunningServer> {
  const dataDir = opts.dataDir ?? tempDataDir();
  // `ECOWATT_TEST_PROFILE=postgres`: every server runs on PostgreSQL, a schema per data directory.
  const profile =
    process.env.ECOWATT_TEST_PROFILE === 'postgres' && !opts.env?.ECOWATT_DATABASE_URL
      ? { ECOWATT_DATABASE_URL: await profileSchemaUrl(dataDir) }
      : {};
  // `args`: flags after the entry, as `npm start -- <flags>` passes them.
  const proc = spawn(process.execPath, [ENTRY, ...(opts.args ?? [])], {
    cwd: ROOT,
    env: {
      ...process.env,
      ECOWATT_HOST: '127.0.0.1',
      ECOWATT_PORT: String(opts.port ?? 0),
      ECOWATT_DATA_DIR: dataDir,
      ECOWATT_LOG_LEVEL: 'warn',
      // Tests drive devices far faster than the field does; the limits have a test of their own.
      ECOWATT_RATE_LIMIT_SOURCE: 'off',
      ECOWATT_RATE_LIMIT_DEVICE: 'off',
      // Any free port: test servers run side by side, and 1883 belongs to the machine's broker.
      ECOWATT_MQTT_PORT: '0',
      ...profile,
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const started = await new Promise<{ port: number; token: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 20_000);
    const check = () => {
      const port = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      // `admin token (…): <token>`, or `admin token: off` (ECOWATT_ADMIN_TOKEN=off)
      const token = /admin token(?: \([^)]*\))?: (\S+)/.exec(out);
      if (port && token) {
        clearTimeout(timer);
        resolve({ port: Number(port[1]), token: token[1] });
      }
    };
    proc.stderr?.on('data', check);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${out}`));
    });
  });
  const url = `http://127.0.0.1:${started.port}`;
  const mqttUrl = /MQTT broker \([a-z]+\): (\S+)/.exec(out)?.[1];
  return {
    url,
    port: started.port,
    adminToken: started.token,
    dataDir,
    mqttUrl,
    proc,
    output: () => out,
    async stop() {
      proc.kill('SIGTERM');
      return exited;
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited;
    },
    async admin(method, route, body) {
      const res = await fetch(`${url}${route}`, {
        method,
        headers: {
          authorization: `Bearer ${started.token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, json: await res.json() };
    },
  };
}

/**
 * The server's admin API for tests that only go on when it answers as expected: each call
 * expects `status` (200 unless told) and gives the JSON. `server` is read at each call, the
 * server being started in `beforeAll`.
 */
export function expectingAdmin(server: () => RunningServer) {
  return async (method: string, route: string, body?: unknown, status = 200) => {
    const res = await server().admin(method, route, body);
    expect(res.status, `${method} ${route}: ${JSON.stringify(res.json)}`).toBe(status);
    return res.json;
  };
}

export async function post(
  url: string,
  body: string | Buffer,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(`${url}/process`, { method: 'POST', headers, body });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json, headers: res.headers };
}
