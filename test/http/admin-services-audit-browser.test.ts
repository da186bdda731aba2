import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signUp, type TestApp } from '../helpers/app.js';
import { accessibilityViolations, adminPage, appUnderHost, chromiumMissing, launchChromium } from '../helpers/chromium.js';
import { anyOf, describeUnless, ON_POSTGRES } from '../helpers/skip.js';

// The console's service clients and audit log in a real browser (Debian's Chromium, driven by playwright-core): a new
// client made with the form and its checkboxes, its secret shown once, a removal refused then confirmed, a search of
// the log and a bad filter; axe-core on each page, light and dark; nothing refused by the CSP. Once, on the embedded
// engine: the pages are the same on both.
const noChromium = chromiumMissing('admin-services-audit-browser');

describeUnless(anyOf(noChromium, ON_POSTGRES))('the console\'s service clients and audit log in Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  let base: string;
  let page: Page;
  let blocked: string[] = [];
  beforeAll(async () => {
    ({ t, base } = await appUnderHost());
    browser = await launchChromium();
    ({ page, blocked } = await adminPage(t, browser, base));
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
