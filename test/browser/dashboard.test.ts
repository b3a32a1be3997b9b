/**
 * The web dashboard end to end: the real server process, simulated field devices uploading over
 * HTTP, and the dashboard in headless Chromium. Screenshots go to test-artifacts/ (and the dashboard page's
 * docs/dashboard.png with ECOWATT_DOCS_SCREENSHOT=1).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeys } from '../../src/firmware/firmware-keys.js';
import { runSimulation, type SimulationSummary } from '../../src/sim/simulator.js';
import { artifact, chromiumMissing, launchChromium } from '../helpers/browser.js';
import { post, ROOT, type RunningServer, startServer, tempDataDir } from '../helpers/server-process.js';
import { sealed } from '../helpers/uploads.js';

// Scripts run in the page (this file is type-checked without the DOM library).
const TOKEN_IN_SESSION = "sessionStorage.getItem('ecowatt.adminToken')";
const OVERFLOW = 'document.documentElement.scrollWidth - window.innerWidth';
const signedIn = (token: string) => `sessionStorage.setItem('ecowatt.adminToken', ${JSON.stringify(token)})`;

const missing = chromiumMissing();
const ci = Boolean(process.env.CI) && process.env.CI !== 'false';
if (missing && !ci) {
  process.stderr.write(`\n  NOTICE: the browser tests are SKIPPED: ${missing}\n\n`);
}

it.runIf(missing !== null && ci)('has Chromium for the browser tests (required under CI=true)', () => {
  expect.fail(missing ?? '');
});

describe.skipIf(missing !== null && !ci)('dashboard in headless Chromium', () => {
  let server: RunningServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let stopped = false;
  const problems: string[] = [];
  const simulation = new AbortController();
  let simulated: Promise<SimulationSummary> | undefined;

  const watch = (p: Page) => {
    p.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    p.on('console', (msg) => {
      if (/content security policy/i.test(msg.text())) problems.push(`CSP: ${msg.text()}`);
    });
  };

  beforeAll(async () => {
    if (missing) throw new Error(missing);
    // Samples stamped as the simulated devices poll them (5 per upload, one upload a second).
    const dataDir = tempDataDir();
    generateKeys(path.join(dataDir, 'keys'));
    server = await startServer({ dataDir, env: { ECOWATT_POLL_INTERVAL_MS: '200' } });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    watch(page);
  });

  afterAll(async () => {
    simulation.abort();
    await simulated?.catch(() => undefined);
    await browser?.close();
    if (!stopped) await server?.stop();
  });

  it('refuses a wrong token and signs in with the admin token (break-glass)', async () => {
    await page.goto(server.url);
    await page.getByText('Use the admin token instead').click();
    const token = page.getByLabel('Admin token');
    await token.fill('not-the-admin-token');
    await page.getByRole('button', { name: 'Sign in with the token' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('not accepted');

    await token.fill(server.adminToken);
    await page.getByRole('button', { name: 'Sign in with the token' }).click();
    await page.getByRole('heading', { name: 'Fleet', level: 1 }).waitFor();
    expect(await page.evaluate(TOKEN_IN_SESSION)).toBe(server.adminToken);
    await page.getByTestId('live-state').filter({ hasText: 'Live' }).waitFor();
  });

  it('shows a simulated fleet as it uploads', async () => {
    // Two field-firmware devices (their learned dictionary leaves most values unknown to the
    // server) and one protocol v2 device with lossless packets (every value exact).
    const v2 = await server.admin('POST', '/api/devices', { id: 'site-v2', key_kind: 'v2' });
    expect(v2.status).toBe(201);
    simulated = runSimulation({
      url: server.url,
      devices: 2,
      v2Devices: [{ deviceId: 'site-v2', kid: v2.json.key.kid, key: Buffer.from(v2.json.key.key, 'hex') }],
      intervalSeconds: 1,
      uploadIntervalMs: 1000,
      pollIntervalMs: 200,
      durationSeconds: 120,
      encrypt: true,
      idPrefix: 'site',
      signal: simulation.signal,
    });
    for (const id of ['site-0001', 'site-0002', 'site-v2']) {
      await page.locator(`tr[data-device="${id}"][data-link="online"]`).waitFor({ timeout: 15_000 });
    }
    await expect.poll(() => page.locator('[data-total="devices"] strong').textContent()).toBe('3');
    await expect.poll(() => page.locator('[data-total="online"] strong').textContent()).toBe('3');

    await page.getByLabel('Search').fill('site-0002');
    await expect.poll(() => page.locator('tbody[data-testid="fleet-rows"] tr').count()).toBe(1);
    await page.getByLabel('Search').fill('');
    await page.getByRole('button', { name: 'Power now' }).click();
    await expect.poll(() => page.locator('th[aria-sort] button').textContent()).toBe('Power now');
    await page.screenshot({ path: artifact('fleet.png'), fullPage: true });
  });

  it('opens a device and updates its chart live when the simulator uploads', async () => {
    await page.getByRole('link', { name: 'site-v2' }).click();
    await page.getByRole('heading', { name: 'site-v2', level: 1 }).waitFor();
    const power = page.getByTestId('chart-power');
    const points = async () => Number(await power.getAttribute('data-points'));
    await expect.poll(points, { timeout: 15_000 }).toBeGreaterThan(0);
    const before = await points();
    // The simulator keeps uploading: new samples arrive over the live stream.
    await expect.poll(points, { timeout: 15_000 }).toBeGreaterThan(before);

    await page.locator('[data-testid="latest-values"] tr[data-register="Pac"]').waitFor();
    const value = await page
      .locator('[data-testid="latest-values"] tr[data-register="Pac"] td')
      .first()
      .textContent();
    expect(value).toMatch(/\d+ W/);
    await page.locator('[data-testid="uploads"] tr[data-upload]').first().waitFor();
    expect(await page.locator('[data-testid="uploads"]').textContent()).toMatch(/lossless|E1/i);

    await page.getByRole('button', { name: 'Last day' }).click();
    await expect.poll(() => page.getByTestId('chart-status').textContent()).toContain('averaged');
    await page.getByRole('button', { name: 'Last hour' }).click();
    await expect.poll(points).toBeGreaterThan(0);
    await page.waitForTimeout(1500);
    await page.screenshot({ path: artifact('device.png'), fullPage: true });
    if (process.env.ECOWATT_DOCS_SCREENSHOT) {
      mkdirSync(path.join(ROOT, 'docs'), { recursive: true });
      await page.screenshot({ path: path.join(ROOT, 'docs', 'dashboard.png') });
    }
  });

  it('shows a replay attack in the security feed as it happens', async () => {
    await page.getByRole('link', { name: 'Security' }).click();
    await page.getByRole('heading', { name: 'Security', level: 1 }).waitFor();
    await page.getByTestId('security-feed').waitFor();

    const envelope = sealed('intruder-01', 10001);
    expect((await post(server.url, envelope)).status).toBe(200);
    expect((await post(server.url, envelope)).status).toBe(401);

    const row = page.locator('[data-testid="security-feed"] tr[data-code="replayed_nonce"]', {
      hasText: 'intruder-01',
    });
    await row.first().waitFor({ timeout: 10_000 });
    expect(await page.getByTestId('alerts').textContent()).toContain('replayed_nonce');
    await page.screenshot({ path: artifact('security.png'), fullPage: true });

    // The same event on the device's own page, from storage.
    await row.first().getByRole('link', { name: 'intruder-01' }).click();
    await page.locator('[data-testid="device-events"] tr[data-code="replayed_nonce"]').waitFor();
  });

  it("shows a 1.3 device's registration, energy saved, time per power mode and recent faults", async () => {
    const id = 'gen13-dash';
    // Bare 1.3 reports are believed only from the address of the device's authenticated upload.
    expect((await post(server.url, sealed(id, 10001))).status).toBe(200);
    const send = async (route: string, body: unknown) => {
      const res = await fetch(`${server.url}${route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return res.status;
    };
    const registration = {
      device_id: id,
      device_name: 'Roof inverter',
      firmware_version: '1.3.4',
      location: 'Lab 2',
      description: 'EcoWatt field unit',
    };
    expect(await send('/devices', registration)).toBe(200);
    const energy = {
      device_id: id,
      timestamp: Date.now(),
      power_management: {
        enabled: true,
        techniques: '0x0F',
        avg_current_ma: 96.5,
        energy_saved_mah: 12.5,
        peripheral_savings_mah: 1.5,
        uptime_ms: 3_600_000,
        high_perf_ms: 600_000,
        normal_ms: 1_200_000,
        low_power_ms: 900_000,
        sleep_ms: 900_000,
      },
    };
    expect(await send(`/power/energy/${id}`, energy)).toBe(201);
    const fault = (success: boolean, fault_type: string) => ({
      device_id: id,
      timestamp: Date.now(),
      fault_type,
      recovery_action: 'retry_read',
      success,
      details: `Modbus ${fault_type}`,
      retry_count: success ? 1 : 3,
    });
    expect(await send('/fault/recovery', fault(true, 'crc_error'))).toBe(201);
    expect(await send('/fault/recovery', fault(false, 'timeout'))).toBe(201);

    await page.goto(`${server.url}/#/devices/${id}`);
    await page.getByRole('heading', { name: id, level: 1 }).waitFor();
    const reports = page.getByRole('region', { name: 'Energy and faults' });
    await expect.poll(() => reports.getByTestId('registration').textContent()).toContain('Roof inverter');
    expect(await reports.getByTestId('registration').textContent()).toMatch(/1\.3\.4.*Lab 2.*verified/s);
    await expect.poll(() => reports.getByTestId('energy-saved').textContent()).toContain('12.50 mAh');
    expect(await reports.locator('[data-testid="power-modes"] tr[data-mode]').count()).toBe(4);
    expect(await reports.locator('[data-testid="power-modes"] tr[data-mode="normal"]').textContent()).toMatch(
      /20 min.*33\.3 %/s,
    );
    const faults = reports.locator('[data-testid="fault-rows"] tr[data-fault]');
    await expect.poll(() => faults.count()).toBe(2);
    expect(await faults.first().textContent()).toMatch(/timeout.*retry read.*failed/s);
    expect(await faults.nth(1).textContent()).toMatch(/crc error.*recovered/s);
    await reports.screenshot({ path: artifact('device-reports.png') });
  });

  it("changes a device's configuration (validated) and shows it pending; sends and cancels a command", async () => {
    await page.goto(`${server.url}/#/devices/site-0001`);
    await page.getByRole('heading', { name: 'site-0001', level: 1 }).waitFor();
    const upload = page.getByLabel('Upload interval (s)');
    await upload.fill('100');
    await page.getByRole('button', { name: 'Save configuration' }).click();
    // Refused before sending: this firmware would overflow its upload buffer.
    await expect
      .poll(() => page.locator('[data-error-for="upload_interval"]').textContent())
      .toContain('2048-byte');
    expect(await upload.getAttribute('aria-invalid')).toBe('true');

    await upload.fill('10');
    await page.getByLabel('Reason (audit log)').fill('faster uploads for commissioning');
    await page.getByRole('button', { name: 'Save configuration' }).click();
    await page
      .locator('[data-testid="config-state"] tr[data-key="upload_interval"][data-state="pending"]')
      .waitFor();
    await page.locator('[data-testid="config-history"] li', { hasText: 'upload_interval → 10' }).waitFor();
    await page.getByRole('region', { name: 'Configuration' }).screenshot({ path: artifact('config.png') });

    await page.getByLabel('Command', { exact: true }).selectOption('set_power_percentage');
    await page.getByLabel('Percent', { exact: true }).fill('150');
    await page.getByRole('button', { name: 'Send' }).click();
    await expect
      .poll(() => page.getByRole('region', { name: 'Commands' }).getByRole('alert').textContent())
      .toContain('0 to 100');
    await page.getByLabel('Percent', { exact: true }).fill('60');
    await page.getByRole('button', { name: 'Send' }).click();
    const row = page.locator('[data-testid="commands"] tr[data-command]').first();
    await expect.poll(() => row.getAttribute('data-status')).toBe('pending');
    await row.getByRole('button', { name: /Cancel command/ }).click();
    await expect.poll(() => row.getAttribute('data-status')).toBe('cancelled');
  });

  it('uploads a firmware image, starts a rollout, pauses and resumes it', async () => {
    await page.getByRole('link', { name: 'Firmware' }).click();
    await page.getByRole('heading', { name: 'Firmware', level: 1 }).waitFor();
    await page.getByLabel('Version', { exact: true }).first().fill('1.1.0');
    await page.getByLabel('Notes', { exact: true }).fill('dashboard test image');
    await page.getByLabel('Image', { exact: true }).setInputFiles({
      name: 'ecowatt-1.1.0.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.concat([Buffer.from([0xe9]), Buffer.alloc(4095, 7)]), // ESP32 image magic first
    });
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.locator('[data-testid="firmware-images"] tr[data-version="1.1.0"]').waitFor();

    await page.getByLabel('Target', { exact: true }).selectOption('devices');
    await page.getByLabel('Devices', { exact: true }).fill('site-0001, site-0002');
    await page.getByRole('button', { name: 'Start rollout' }).click();
    const rollout = page.locator('[data-testid="rollouts"] tr[data-rollout]').first();
    await expect.poll(() => rollout.getAttribute('data-state')).toBe('active');
    await rollout.getByRole('button', { name: /^Pause rollout/ }).click();
    await expect.poll(() => rollout.getAttribute('data-state')).toBe('paused');
    await page.screenshot({ path: artifact('firmware.png'), fullPage: true });
    await rollout.getByRole('button', { name: /^Resume rollout/ }).click();
    await expect.poll(() => rollout.getAttribute('data-state')).toBe('active');
  });

  it('can be used with the keyboard: a skip link first, every control labelled', async () => {
    await page.goto(`${server.url}/#/`);
    await page.reload();
    await page.getByRole('heading', { name: 'Fleet', level: 1 }).waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate('document.activeElement?.id')).toBe('main');
    const unlabelled = await page.evaluate<string[]>(`[...document.querySelectorAll('input, select')]
      .filter((e) => e.labels?.length === 0 && !e.getAttribute('aria-label'))
      .map((e) => e.outerHTML)`);
    expect(unlabelled).toEqual([]);
    // Tab from the search box reaches the device links; Enter opens one.
    await page.getByLabel('Search').focus();
    for (let i = 0; i < 20; i++) {
      await page.keyboard.press('Tab');
      const href = await page.evaluate<string>("document.activeElement?.getAttribute('href') ?? ''");
      if (href.startsWith('#/devices/')) break;
    }
    await page.keyboard.press('Enter');
    await expect.poll(() => page.evaluate<string>('location.hash')).toMatch(/^#\/devices\//);
  });

  it('is readable on a phone', async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
    });
    const p = await phone.newPage();
    watch(p);
    await p.addInitScript(signedIn(server.adminToken));
    await p.goto(`${server.url}/#/`);
    await p.locator('tr[data-device="site-0001"]').waitFor();
    const overflow = await p.evaluate<number>(OVERFLOW);
    expect(overflow).toBeLessThanOrEqual(1);
    await p.screenshot({ path: artifact('fleet-phone.png'), fullPage: true });
    await p.goto(`${server.url}/#/devices/site-v2`);
    await expect
      .poll(async () => Number(await p.getByTestId('chart-power').getAttribute('data-points')))
      .toBeGreaterThan(0);
    expect(await p.evaluate<number>(OVERFLOW)).toBeLessThanOrEqual(1);
    await p.screenshot({ path: artifact('device-phone.png'), fullPage: true });
    await phone.close();
  });

  it('signs out: the token is forgotten and the API is no longer called with it', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Name').waitFor();
    expect(await page.evaluate(TOKEN_IN_SESSION)).toBeNull();
    await page.reload();
    await page.getByLabel('Name').waitFor();
  });

  it('had no script errors and no content-security-policy violations', () => {
    expect(problems).toEqual([]);
  });

  it('stops the server promptly while a dashboard holds a live stream open', async () => {
    const p = await context.newPage();
    await p.addInitScript(signedIn(server.adminToken));
    await p.goto(`${server.url}/#/`);
    await p.getByTestId('live-state').filter({ hasText: 'Live' }).waitFor();
    simulation.abort();
    await simulated;
    const t0 = Date.now();
    stopped = true;
    expect(await server.stop()).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
