import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { adminBrowser } from '../helpers/admin-browser.js';
import { signUp, startTestApp, type TestApp } from '../helpers/app.js';
import { freePort } from '../helpers/services.js';
import { anyOf, describeUnless, ON_POSTGRES } from '../helpers/skip.js';

// The console's service clients and audit log in a real browser (Debian's Chromium, driven by playwright-core): a new
// client made with the form and its checkboxes, its secret shown once, a removal refused then confirmed, a search of
// the log and a bad filter; axe-core on each page, light and dark; nothing refused by the CSP. Once, on the embedded
// engine: the pages are the same on both.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HOST = 'latchkey.test';
const noChromium = existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM}: on Debian, apt-get install -y chromium, or set CHROMIUM_PATH`;
if (noChromium && process.env.CI === 'true') throw new Error(`admin-services-audit-browser: ${noChromium}; CI installs it in .ci/run`);

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical violations on the page as it stands, light and dark. */
async function accessibilityViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE);
  const found: string[] = [];
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    const violations = await page.evaluate(async () => {
      const axe = (globalThis as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe;
      return (await axe.run()).violations;
    });
    for (const v of violations.filter((x) => x.impact === 'serious' || x.impact === 'critical')) found.push(`${colorScheme} ${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
  return found;
}

describeUnless(anyOf(noChromium, ON_POSTGRES))('the console\'s service clients and audit log in Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  let base: string;
  let page: Page;
  const blocked: string[] = [];
  beforeAll(async () => {
    const port = await freePort();
    base = `http://${HOST}:${port}`;
    t = await startTestApp({ env: { PUBLIC_URL: base } });
    await t.app.listen({ port, host: '127.0.0.1' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: [`--host-resolver-rules=MAP ${HOST} 127.0.0.1`, '--no-sandbox'] });
    const admin = await adminBrowser(t);
    const context = await browser.newContext();
    await context.addCookies([...admin.jar].map(([name, value]) => ({ name, value, url: base, httpOnly: true, sameSite: 'Lax' as const })));
    page = await context.newPage();
    page.on('console', (m) => {
      if (/Content.Security.Policy/i.test(m.text())) blocked.push(m.text());
    });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('makes a service client with the form, shows its secret once, and removes it once its name is typed', async () => {
    await page.goto(`${base}/admin/services`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Service clients');
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.getByLabel('Name', { exact: true }).fill('browser-made');
    await page.getByRole('button', { name: 'Create service client' }).click();
    await page.waitForLoadState('load');
    expect(await page.getByRole('alert').first().textContent()).toContain('Choose at least one scope.');
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.getByLabel('users:read').check();
    await page.getByLabel('admin:', { exact: false }).check();
    await page.getByRole('button', { name: 'Create service client' }).click();
    await page.waitForLoadState('load');
    expect(new URL(page.url()).pathname).toBe('/admin/services');
    expect(await page.locator('main').textContent()).toMatch(/lks_[A-Za-z0-9_-]{43}/);
    expect(await page.locator('main').textContent()).toContain('it will not be shown again');
    expect(await accessibilityViolations(page)).toEqual([]);

    await page.getByRole('link', { name: 'Back to service clients' }).click();
    await page.getByRole('link', { name: 'Remove browser-made' }).click();
    await page.getByLabel(/Type the service client's name/).fill('not-it');
    await page.getByRole('button', { name: 'Remove service client' }).click();
    await page.waitForLoadState('load');
    expect(await page.getByRole('alert').textContent()).toContain('Type browser-made exactly');
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.getByLabel(/Type the service client's name/).fill('browser-made');
    await page.getByRole('button', { name: 'Remove service client' }).click();
    await page.waitForURL(`${base}/admin/services?done=removed`);
    expect(await page.getByRole('status').textContent()).toContain('was removed');
    expect(await page.locator('table').count()).toBe(0);
    expect(blocked, 'nothing the CSP refused').toEqual([]);
  });

  it('searches the audit log with the filter form, and says what is wrong with a bad filter', async () => {
    await signUp(t, { name: '<img src=x onerror=alert(1)>' });
    await page.goto(`${base}/admin/audit`);
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.getByLabel('Event type').selectOption('signup');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/\/admin\/audit\?.*type=signup/);
    expect(await page.locator('tbody tr').count()).toBe(1);
    expect(await page.locator('tbody').textContent()).toContain('<img src=x onerror=alert(1)>');
    expect(await page.locator('tbody img').count()).toBe(0);
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.getByLabel('User').fill('nobody');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForLoadState('load');
    expect(await page.getByRole('alert').textContent()).toContain('User must be a user id or an email address');
    expect(await accessibilityViolations(page)).toEqual([]);
    expect(blocked, 'nothing the CSP refused').toEqual([]);
  });
});
