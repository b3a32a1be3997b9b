/**
 * The API reference page `/api/docs` in headless Chromium against the real server: it renders the
 * server's own OpenAPI document with every file served by this server (no CDN, nothing fetched
 * from anywhere else), lists the admin and device routes, and "Try it out" calls the server.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifact, chromiumMissing, launchChromium } from '../helpers/browser.js';
import { type RunningServer, startServer } from '../helpers/server-process.js';

const missing = chromiumMissing();
const ci = Boolean(process.env.CI) && process.env.CI !== 'false';
if (missing && !ci) process.stderr.write(`\n  NOTICE: the browser tests are SKIPPED: ${missing}\n\n`);

it.runIf(missing !== null && ci)('has Chromium for the browser tests (required under CI=true)', () => {
  expect.fail(missing ?? '');
});

describe.skipIf(missing !== null && !ci)('API reference page in headless Chromium', () => {
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  const requested: string[] = [];
  const problems: string[] = [];

  beforeAll(async () => {
    if (missing) throw new Error(missing);
    server = await startServer();
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.on('request', (req) => requested.push(req.url()));
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('renders every route of the document from files this server serves', async () => {
    const res = await page.goto(`${server.url}/api/docs`);
    expect(res?.status()).toBe(200);
    await page.locator('.opblock').first().waitFor({ timeout: 20_000 });
    await expect.poll(() => page.locator('.opblock').count()).toBeGreaterThan(80);
    await expect
      .poll(() => page.locator('.opblock-summary-path').allTextContents())
      .toEqual(expect.arrayContaining(['/process', '/api/devices', '/api/devices/{id}/readings', '/health']));
    await expect(page.locator('.info .title').textContent()).resolves.toContain('EcoWatt Cloud');
    await page.screenshot({ path: artifact('api-docs.png') });
    const elsewhere = requested.filter((u) => !u.startsWith(server.url) && !u.startsWith('data:'));
    expect(elsewhere).toEqual([]);
    expect(requested).toContain(`${server.url}/api/docs/json`);
    expect(problems).toEqual([]);
  });

  it('calls the server from "Try it out"', async () => {
    const health = page.locator('.opblock-get', {
      has: page.locator('.opblock-summary-path', { hasText: /^\/health$/ }),
    });
    await health.locator('.opblock-summary').click();
    await health.getByRole('button', { name: 'Try it out' }).click();
    await health.getByRole('button', { name: 'Execute' }).click();
    const body = health.locator('.responses-wrapper .live-responses-table .response-col_description pre');
    await expect.poll(() => body.first().textContent(), { timeout: 10_000 }).toContain('"status": "healthy"');
    expect(requested.some((u) => u === `${server.url}/health`)).toBe(true);
    expect(problems).toEqual([]);
  });
});
