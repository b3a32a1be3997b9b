/**
 * Dashboard sign-in with accounts in headless Chromium, against the real server: a viewer signs
 * in with name and password, sees the fleet, finds no firmware actions (and no Users page), signs
 * out, and the old session cookie is refused by the server; an admin manages accounts and makes an
 * API key whose secret is shown once.
 */
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/firmware/firmware-keys.js';
import { artifact, chromiumMissing, launchChromium } from '../helpers/browser.js';
import { post, type RunningServer, startServer, tempDataDir } from '../helpers/server-process.js';
import { sealed } from '../helpers/uploads.js';

const missing = chromiumMissing();
const ci = Boolean(process.env.CI) && process.env.CI !== 'false';
if (missing && !ci) process.stderr.write(`\n  NOTICE: the browser tests are SKIPPED: ${missing}\n\n`);

it.runIf(missing !== null && ci)('has Chromium for the browser tests (required under CI=true)', () => {
  expect.fail(missing ?? '');
});

describe.skipIf(missing !== null && !ci)('sign-in with accounts and roles in headless Chromium', () => {
  let server: RunningServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    if (missing) throw new Error(missing);
    const dataDir = tempDataDir();
    generateKeys(path.join(dataDir, 'keys'));
    server = await startServer({ dataDir });
    for (const [name, role] of [
      ['vera', 'viewer'],
      ['ada', 'admin'],
    ]) {
      const res = await server.admin('POST', '/api/users', { name, role, password: `${name}-long-password` });
      expect(res.status).toBe(201);
    }
    // A device in the fleet, a firmware image and a rollout: what a viewer may look at.
    expect((await post(server.url, sealed('site-7', 10001))).status).toBe(200);
    const image = await fetch(`${server.url}/api/firmware?version=2.0.0`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/octet-stream' },
      body: Buffer.concat([Buffer.from([0xe9]), Buffer.alloc(4095, 3)]),
    });
    expect(image.status).toBe(201);
    const rollout = await server.admin('POST', '/api/rollouts', { version: '2.0.0', target: 'all' });
    expect(rollout.status).toBe(201);
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  const signIn = async (name: string, password: string) => {
    await page.goto(server.url);
    await page.getByLabel('Name').fill(name);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  };

  it('refuses a wrong password without saying whether the account exists', async () => {
    await signIn('vera', 'not her password');
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('not accepted');
    await signIn('nobody-here', 'not a password');
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('not accepted');
  });

  it('signs a viewer in: the fleet, who is signed in, and no firmware actions or Users page', async () => {
    await signIn('vera', 'vera-long-password');
    await page.getByRole('heading', { name: 'Fleet', level: 1 }).waitFor();
    await page.locator('tr[data-device="site-7"]').waitFor();
    expect(await page.getByTestId('signed-in-as').textContent()).toBe('vera · viewer');
    await page.getByTestId('live-state').filter({ hasText: 'Live' }).waitFor();
    // The session lives in an httpOnly cookie, not in the page's storage.
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'ecowatt_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/api' });
    expect(await page.evaluate('document.cookie')).toBe('');
    expect(await page.getByRole('link', { name: 'Users' }).count()).toBe(0);

    await page.getByRole('link', { name: 'Firmware' }).click();
    await page.getByRole('heading', { name: 'Firmware', level: 1 }).waitFor();
    await page.locator('[data-testid="firmware-images"] tr[data-version="2.0.0"]').waitFor();
    await page.locator('[data-testid="rollouts"] tr[data-rollout]').first().waitFor();
    for (const name of ['Upload', 'Start rollout', /^Pause rollout/, /^Abort rollout/, /^Resume rollout/]) {
      expect(await page.getByRole('button', { name }).count(), String(name)).toBe(0);
    }
    await page.screenshot({ path: artifact('viewer-firmware.png'), fullPage: true });

    // The device page shows the configuration but not its editor, nor the command form.
    await page.goto(`${server.url}/#/devices/site-7`);
    await page.getByRole('heading', { name: 'site-7', level: 1 }).waitFor();
    await page.getByRole('region', { name: 'Configuration' }).waitFor();
    expect(await page.getByRole('button', { name: 'Save configuration' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Send' }).count()).toBe(0);

    // Sign out: the server forgets the session, so the old cookie no longer works anywhere.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Name').waitFor();
    const old = await fetch(`${server.url}/api/dashboard/fleet`, {
      headers: { cookie: `ecowatt_session=${session?.value}` },
    });
    expect(old.status).toBe(401);
    expect(((await old.json()) as { error: string }).error).toBe('unauthorized');
    await page.reload();
    await page.getByLabel('Name').waitFor();
  });

  it('lets an admin see accounts and make an API key shown once', async () => {
    await signIn('ada', 'ada-long-password');
    await page.getByRole('heading', { name: 'Fleet', level: 1 }).waitFor();
    await page.getByRole('link', { name: 'Users' }).click();
    await page.locator('[data-testid="users"] tr[data-user="vera"]').waitFor();
    expect(await page.locator('[data-testid="users"] tr[data-user="vera"]').textContent()).toContain(
      'enabled',
    );
    await page.getByLabel('New password for vera').fill('vera-new-long-password');
    await page.getByRole('button', { name: 'Set the new password of vera' }).click();
    await expect
      .poll(async () => {
        const res = await fetch(`${server.url}/api/session`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'vera', password: 'vera-new-long-password' }),
        });
        return res.status;
      })
      .toBe(204);
    await page.getByRole('button', { name: 'Disable vera' }).click();
    await page.locator('[data-testid="users"] tr[data-user="vera"][data-enabled="false"]').waitFor();

    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByLabel('Name').fill('grafana');
    await page.getByLabel('Role').selectOption('viewer');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = (await page.getByTestId('new-key-secret').textContent()) ?? '';
    expect(secret).toMatch(/^ew_/);
    await page.locator('[data-testid="api-keys"] tr[data-key="grafana"][data-state="active"]').waitFor();
    expect(await page.getByTestId('api-keys').textContent()).not.toContain(secret);
    const asKey = await fetch(`${server.url}/api/devices`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    expect(asKey.status).toBe(200);
    await page.screenshot({ path: artifact('api-keys.png'), fullPage: true });

    const audit = await server.admin('GET', '/api/audit');
    const actions = audit.json.entries.map(
      (e: { actor: string; action: string }) => `${e.actor} ${e.action}`,
    );
    expect(actions).toContain('user:ada user.password_changed');
    expect(actions).toContain('user:ada user.disabled');
    expect(actions).toContain('user:ada apikey.created');
  });

  it('lets an operator change their own password and stay signed in', async () => {
    // ada is still signed in from the test before.
    await page.getByRole('link', { name: 'Account' }).click();
    await page.getByRole('heading', { name: 'Account', level: 1 }).waitFor();
    await page.getByLabel('Current password', { exact: true }).fill('ada-long-password');
    await page.getByLabel('New password', { exact: true }).fill('ada-newer-long-password');
    await page.getByLabel('New password again', { exact: true }).fill('ada-newer-long-password');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByTestId('account-status').filter({ hasText: 'Password changed' }).waitFor();
    // This browser's new session works (a change needs its new CSRF token too); the old password does not.
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByLabel('Name').fill('after-change');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.locator('[data-testid="api-keys"] tr[data-key="after-change"]').waitFor();
    const old = await fetch(`${server.url}/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'ada', password: 'ada-long-password' }),
    });
    expect(old.status).toBe(401);
  });

  it('had no script errors', () => {
    expect(problems).toEqual([]);
  });
});
