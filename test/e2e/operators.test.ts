/**
 * Operators against the real server process, as an administrator would use them: the CLI's
 * `user` and `apikey` commands (and `--api-key`), dashboard sign-in with its cookie, CSRF and
 * sign-out, and the secrets (passwords, API keys, session ids) appearing nowhere after creation:
 * not in API answers, not in the logs, not in the database files. Then a fresh data directory
 * bootstrapped with `ecowatt user add --direct` and the admin token off.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { ROOT, type RunningServer, startServer, tempDataDir } from '../helpers/server-process.js';
import { profileSchemaUrl } from '../helpers/services.js';

const PASSWORD = 'Op3rator-Pass phrase!';
const NEW_PASSWORD = 'An0ther-secret phrase';
const ADMIN_PASSWORD = 'First admin pass phrase';

/** `ecowatt …args`, with `input` on stdin; never throws on exit codes. */
function ecowatt(
  args: string[],
  opts: { env?: Record<string, string>; input?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [path.join(ROOT, 'bin/ecowatt.js'), ...args], {
      env: { ...process.env, ...opts.env },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(opts.input ?? '');
  });
}

/** Every file under `dir`, as bytes (the SQLite file, its WAL, the token file …). */
function allBytes(dir: string): Buffer {
  const parts: Buffer[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) parts.push(allBytes(p));
    else parts.push(readFileSync(p));
  }
  return Buffer.concat(parts);
}

async function request(
  server: RunningServer,
  method: string,
  route: string,
  opts: { cookie?: string; csrf?: string; bearer?: string; body?: unknown; origin?: string } = {},
): Promise<{ status: number; text: string; json: any; setCookie: string | null }> {
  const res = await fetch(`${server.url}${route}`, {
    method,
    headers: {
      ...(opts.cookie ? { cookie: opts.cookie } : {}),
      ...(opts.csrf ? { 'x-csrf-token': opts.csrf } : {}),
      ...(opts.bearer ? { authorization: `Bearer ${opts.bearer}` } : {}),
      ...(opts.origin ? { origin: opts.origin } : {}),
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, text, json, setCookie: res.headers.get('set-cookie') };
}

describe('operators: CLI, sign-in and secrets', () => {
  let server: RunningServer;
  let env: Record<string, string>;
  const answers: string[] = [];
  let apiKey = '';
  let sessionId = '';

  beforeAll(async () => {
    server = await startServer({
      env: { ECOWATT_LOG_LEVEL: 'debug', ECOWATT_SIGNIN_MAX_FAILURES: '3', ECOWATT_SIGNIN_LOCK_SECONDS: '2' },
    });
    env = { ECOWATT_URL: server.url, ECOWATT_ADMIN_TOKEN: server.adminToken };
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('adds accounts and API keys with the CLI, the admin token read as the bootstrap credential', async () => {
    const add = await ecowatt(['user', 'add', 'ops', '--role', 'operator', '--password-stdin'], {
      env,
      input: `${PASSWORD}\n`,
    });
    expect(add, add.stderr).toMatchObject({ code: 0 });
    expect(add.stdout).toContain('added ops (operator)');
    const short = await ecowatt(['user', 'add', 'weak', '--role', 'viewer', '--password-stdin'], {
      env,
      input: 'short\n',
    });
    expect(short.code).toBe(1);
    expect(short.stderr).toContain('400 invalid_parameter: password: expected 10 to 1024 characters');
    const badRole = await ecowatt(['user', 'add', 'x', '--role', 'root', '--password-stdin'], {
      env,
      input: 'x\n',
    });
    expect(badRole.stderr).toContain('role: expected "viewer" or "operator" or "admin"');

    const created = await ecowatt(
      ['apikey', 'create', 'ci', '--role', 'viewer', '--expires-days', '30', '--json'],
      {
        env,
      },
    );
    expect(created.code, created.stderr).toBe(0);
    const json = JSON.parse(created.stdout);
    expect(Object.keys(json)).toEqual(['name', 'role', 'key']);
    expect(json).toMatchObject({ name: 'ci', role: 'viewer' });
    apiKey = json.key;
    expect(apiKey).toMatch(/^ew_/);

    const users = await ecowatt(['user', 'list'], { env });
    expect(users.stdout).toMatch(/^ops\toperator\tenabled\tlast sign-in never$/m);
    const keys = await ecowatt(['apikey', 'list', '--json'], { env });
    answers.push(users.stdout, keys.stdout);
    expect(JSON.parse(keys.stdout)[0]).toMatchObject({ name: 'ci', role: 'viewer', state: 'active' });
    expect(keys.stdout).toContain(apiKey.slice(0, 12));
  });

  it('uses an API key for the admin commands (--api-key or ECOWATT_API_KEY), within its role', async () => {
    const noToken = { ECOWATT_URL: server.url, ECOWATT_ADMIN_TOKEN: '' };
    const list = await ecowatt(['device', 'list', '--api-key', apiKey], { env: noToken });
    expect(list.code, list.stderr).toBe(0);
    const fromEnv = await ecowatt(['device', 'list'], { env: { ...noToken, ECOWATT_API_KEY: apiKey } });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    const add = await ecowatt(['device', 'add', 'dev-by-viewer'], {
      env: { ...noToken, ECOWATT_API_KEY: apiKey },
    });
    expect(add.code).toBe(1);
    expect(add.stderr).toContain('403 forbidden: This needs the admin role (you have viewer).');
  });

  it('signs in with name and password: an httpOnly SameSite=Strict cookie, CSRF on changes, actor in the audit log', async () => {
    const wrong = await request(server, 'POST', '/api/session', {
      body: { name: 'ops', password: 'nope nope nope' },
    });
    expect(wrong).toMatchObject({ status: 401, json: { error: 'sign_in_failed' } });
    const missing = await request(server, 'POST', '/api/session', { body: { name: 'ops' } });
    expect(missing).toMatchObject({
      status: 400,
      json: { error: 'invalid_parameter', details: { field: 'password' } },
    });

    const ok = await request(server, 'POST', '/api/session', { body: { name: 'ops', password: PASSWORD } });
    expect(ok.status).toBe(204);
    expect(ok.setCookie).toMatch(
      /^ecowatt_session=[\w-]{43}; Path=\/api; HttpOnly; SameSite=Strict; Max-Age=43200$/,
    );
    sessionId = /ecowatt_session=([\w-]+)/.exec(ok.setCookie ?? '')?.[1] ?? '';
    const cookie = `ecowatt_session=${sessionId}`;

    const me = await request(server, 'GET', '/api/session', { cookie });
    expect(me.json).toMatchObject({ name: 'ops', role: 'operator', kind: 'user', actor: 'user:ops' });
    const csrf = me.json.csrf_token as string;
    answers.push(me.text);

    // The live stream takes the session cookie; its ticket is a change like any other (CSRF).
    expect((await request(server, 'POST', '/api/live/ticket', { cookie })).json.error).toBe('csrf_failed');
    expect((await request(server, 'POST', '/api/live/ticket', { cookie, csrf })).status).toBe(200);
    const abort = new AbortController();
    const stream = await fetch(`${server.url}/api/live`, { headers: { cookie }, signal: abort.signal });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    abort.abort();
    expect((await request(server, 'GET', '/api/live')).status).toBe(401);

    const change = { upload_interval: 30, reason: 'signed-in change' };
    expect((await request(server, 'PUT', '/api/fleet/config', { cookie, body: change })).json.error).toBe(
      'csrf_failed',
    );
    expect(
      (
        await request(server, 'PUT', '/api/fleet/config', {
          cookie,
          csrf,
          body: change,
          origin: 'https://evil.example',
        })
      ).json.error,
    ).toBe('csrf_failed');
    expect((await request(server, 'PUT', '/api/fleet/config', { cookie, csrf, body: change })).status).toBe(
      200,
    );
    // An operator may not do an admin's work.
    const forbidden = await request(server, 'POST', '/api/devices', { cookie, csrf, body: { id: 'x-1' } });
    expect(forbidden).toMatchObject({
      status: 403,
      json: { error: 'forbidden', details: { required_role: 'admin' } },
    });

    const audit = await request(server, 'GET', '/api/audit', { cookie });
    answers.push(audit.text);
    expect(audit.json.entries.map((e: { actor: string; action: string }) => [e.actor, e.action])).toEqual([
      ['user:ops', 'config.changed'],
      ['token', 'apikey.created'],
      ['token', 'user.added'],
    ]);
    const users = await request(server, 'GET', '/api/users', { bearer: server.adminToken });
    answers.push(users.text);
    expect(users.json.users[0]).toMatchObject({ name: 'ops', role: 'operator', enabled: true });
    expect(users.json.users[0].last_sign_in_at).not.toBeNull();
    const keys = await request(server, 'GET', '/api/api-keys', { bearer: server.adminToken });
    answers.push(keys.text);
  });

  it('locks an account after failed sign-ins and tells when to retry; events name the account, not the password', async () => {
    for (let i = 0; i < 3; i++) {
      await request(server, 'POST', '/api/session', { body: { name: 'ops', password: `wrong-guess-${i}` } });
    }
    const locked = await request(server, 'POST', '/api/session', {
      body: { name: 'ops', password: PASSWORD },
    });
    expect(locked.status).toBe(429);
    expect(locked.json).toMatchObject({ error: 'sign_in_locked' });
    expect(locked.json.message).toMatch(/try again after \d{4}-\d\d-\d\dT.* \(in \d+ s\)/);
    // Events are stored behind the answer: the earlier wrong password (its count cleared by the
    // good sign-in after it) and these three.
    const events = await eventually(async () => {
      const e = await request(server, 'GET', '/api/security-events?code=sign_in_failed', {
        bearer: server.adminToken,
      });
      expect(e.json.events.filter((x: { detail: { name: string } }) => x.detail.name === 'ops').length).toBe(
        4,
      );
      return e;
    });
    expect(JSON.stringify(events.json)).not.toContain('wrong-guess');
    // The administrator lifts the lock by setting a new password (which also ends its sessions).
    const passwd = await ecowatt(['user', 'passwd', 'ops', '--password-stdin'], {
      env,
      input: `${NEW_PASSWORD}\n`,
    });
    expect(passwd.code, passwd.stderr).toBe(0);
    expect(
      (await request(server, 'GET', '/api/session', { cookie: `ecowatt_session=${sessionId}` })).json.error,
    ).toBe('unauthorized');
    // This address stays locked for its own lock (2 s here): the next test signs in from it.
    const retryAt = Date.parse(locked.json.details.retry_at as string);
    await new Promise((r) => setTimeout(r, Math.max(0, retryAt - Date.now()) + 200));
  });

  it('ends a session on sign-out and when the account is disabled', async () => {
    const signIn = async () => {
      const res = await request(server, 'POST', '/api/session', {
        body: { name: 'ops', password: NEW_PASSWORD },
      });
      expect(res.status).toBe(204);
      return `ecowatt_session=${/ecowatt_session=([\w-]+)/.exec(res.setCookie ?? '')?.[1]}`;
    };
    let cookie = await signIn();
    expect((await request(server, 'GET', '/api/devices', { cookie })).status).toBe(200);
    const out = await request(server, 'DELETE', '/api/session', { cookie });
    expect(out.status).toBe(204);
    expect(out.setCookie).toContain('Max-Age=0');
    expect((await request(server, 'GET', '/api/devices', { cookie })).status).toBe(401);

    cookie = await signIn();
    const disable = await ecowatt(['user', 'disable', 'ops'], { env });
    expect(disable.code, disable.stderr).toBe(0);
    expect((await request(server, 'GET', '/api/devices', { cookie })).status).toBe(401);
    expect((await ecowatt(['user', 'enable', 'ops'], { env })).code).toBe(0);
    expect((await ecowatt(['apikey', 'revoke', 'ci'], { env })).code).toBe(0);
    expect((await request(server, 'GET', '/api/devices', { bearer: apiKey })).status).toBe(401);
  });

  it('never shows a secret after creation: not in answers, logs or the database files', async () => {
    expect(apiKey).not.toBe('');
    expect(sessionId).not.toBe('');
    const secrets = [PASSWORD, NEW_PASSWORD, apiKey, sessionId];
    for (const text of answers) for (const s of secrets) expect(text).not.toContain(s);
    await server.stop();
    const output = server.output();
    // The debug log did record the requests (so the check below means something) …
    expect(output).toContain('/api/session');
    for (const s of secrets) expect(output).not.toContain(s);
    if (process.env.ECOWATT_TEST_PROFILE === 'postgres') {
      // The PostgreSQL profile: every row of the tables that hold accounts, keys, sessions and
      // what is said about them, as text.
      const db = new pg.Client({ connectionString: await profileSchemaUrl(server.dataDir) });
      await db.connect();
      let text = '';
      try {
        for (const table of ['operators', 'api_keys', 'operator_sessions', 'audit_log', 'security_events']) {
          text += JSON.stringify((await db.query(`SELECT * FROM ${table}`)).rows);
        }
      } finally {
        await db.end();
      }
      expect(text).toContain('scrypt$15$8$1$');
      expect(text).toContain(apiKey.slice(3, 11));
      for (const s of secrets) expect(text.includes(s), 'a secret in the database').toBe(false);
    } else {
      const bytes = allBytes(server.dataDir);
      // … and the database holds the account and the key, only as hashes.
      expect(bytes.includes('scrypt$15$8$1$')).toBe(true);
      expect(bytes.includes(apiKey.slice(3, 11))).toBe(true);
      for (const s of secrets) expect(bytes.includes(s), 'a secret in the data directory').toBe(false);
    }
  });
});

describe('bootstrap on a fresh data directory with the admin token off', () => {
  let server: RunningServer | undefined;
  afterAll(async () => {
    await server?.stop();
  });

  it('creates the first admin with --direct; the token is refused; the admin signs in', async () => {
    const dataDir = tempDataDir();
    // On the PostgreSQL profile, --direct writes to the database the server will use.
    const database: Record<string, string> =
      process.env.ECOWATT_TEST_PROFILE === 'postgres'
        ? { ECOWATT_DATABASE_URL: await profileSchemaUrl(dataDir) }
        : {};
    const add = await ecowatt(
      ['user', 'add', 'first', '--role', 'admin', '--direct', '--password-stdin', '-d', dataDir],
      {
        env: { ECOWATT_ADMIN_TOKEN: 'off', ...database },
        input: `${ADMIN_PASSWORD}\n`,
      },
    );
    expect(add.code, add.stderr).toBe(0);
    server = await startServer({ dataDir, env: { ECOWATT_ADMIN_TOKEN: 'off' } });
    expect(server.output()).toContain('admin token: off');
    expect(server.output()).not.toContain('nobody can administer');
    expect((await request(server, 'GET', '/api/devices', { bearer: 'off' })).status).toBe(401);
    const res = await request(server, 'POST', '/api/session', {
      body: { name: 'first', password: ADMIN_PASSWORD },
    });
    expect(res.status).toBe(204);
    const cookie = `ecowatt_session=${/ecowatt_session=([\w-]+)/.exec(res.setCookie ?? '')?.[1]}`;
    const me = await request(server, 'GET', '/api/session', { cookie });
    expect(me.json).toMatchObject({ name: 'first', role: 'admin' });
    const audit = await request(server, 'GET', '/api/audit', { cookie });
    expect(audit.json.entries[0]).toMatchObject({ actor: 'cli', action: 'user.added' });
  });
});

describe('an operator changes their own password', () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('with the current one; every earlier session ends and this browser gets a new cookie', async () => {
    const created = await request(server, 'POST', '/api/users', {
      bearer: server.adminToken,
      body: { name: 'carol', role: 'viewer', password: PASSWORD },
    });
    expect(created.status).toBe(201);
    const signIn = async (password: string) => {
      const res = await request(server, 'POST', '/api/session', { body: { name: 'carol', password } });
      const id = /ecowatt_session=([\w-]+)/.exec(res.setCookie ?? '')?.[1];
      return { status: res.status, cookie: id ? `ecowatt_session=${id}` : '' };
    };
    const elsewhere = await signIn(PASSWORD);
    const here = await signIn(PASSWORD);
    const csrf = (await request(server, 'GET', '/api/session', { cookie: here.cookie })).json
      .csrf_token as string;
    const change = (body: unknown, opts: { csrf?: string } = { csrf }) =>
      request(server, 'PUT', '/api/session/password', { cookie: here.cookie, ...opts, body });

    expect((await change({ current_password: PASSWORD, new_password: NEW_PASSWORD }, {})).json.error).toBe(
      'csrf_failed',
    );
    const wrong = await change({ current_password: 'not it at all', new_password: NEW_PASSWORD });
    expect([wrong.status, wrong.json.error]).toEqual([401, 'sign_in_failed']);
    const short = await change({ current_password: PASSWORD, new_password: 'short' });
    expect([short.status, short.json.error, short.json.message]).toEqual([
      400,
      'invalid_parameter',
      expect.stringContaining('new_password'),
    ]);

    const done = await change({ current_password: PASSWORD, new_password: NEW_PASSWORD });
    expect(done.status).toBe(204);
    const fresh = `ecowatt_session=${/ecowatt_session=([\w-]+)/.exec(done.setCookie ?? '')?.[1]}`;
    expect(done.setCookie).toMatch(/HttpOnly; SameSite=Strict/);
    expect((await request(server, 'GET', '/api/session', { cookie: fresh })).json).toMatchObject({
      name: 'carol',
      role: 'viewer',
    });
    for (const old of [here.cookie, elsewhere.cookie]) {
      expect((await request(server, 'GET', '/api/session', { cookie: old })).status).toBe(401);
    }
    expect((await signIn(PASSWORD)).status).toBe(401);
    expect((await signIn(NEW_PASSWORD)).status).toBe(204);
    const audit = await request(server, 'GET', '/api/audit?limit=20', { bearer: server.adminToken });
    expect(JSON.stringify(audit.json)).toContain('user:carol');

    // An API key or the admin token has no password of its own.
    const byToken = await request(server, 'PUT', '/api/session/password', {
      bearer: server.adminToken,
      body: { current_password: 'x', new_password: NEW_PASSWORD },
    });
    expect([byToken.status, byToken.json.error]).toEqual([409, 'conflict']);
  });
});
