import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TestApp } from '../helpers/app.js';
import { accessibilityViolations, adminPage, appUnderHost, chromiumMissing, launchChromium } from '../helpers/chromium.js';
import { anyOf, describeUnless, ON_POSTGRES } from '../helpers/skip.js';

// The console's signing keys in a real browser (Debian's Chromium, driven by playwright-core): "Rotate now", a
// revocation refused while the kid typed is wrong, then done; axe-core on each page, light and dark; nothing refused
// by the CSP. Once, on the embedded engine: the page is the same on both.
const noChromium = chromiumMissing('admin-keys-browser');

describeUnless(anyOf(noChromium, ON_POSTGRES))('the console\'s signing keys in Chromium', () => {
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

  it('rotates, and revokes the current key once its kid is typed again', async () => {
    await page.goto(`${base}/admin/keys`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Signing keys');
    expect(await accessibilityViolations(page)).toEqual([]);
    await page.getByRole('button', { name: 'Rotate now' }).click();
    await page.waitForURL(`${base}/admin/keys?done=rotated`);
    expect(await page.getByRole('status').textContent()).toContain('A new signing key was published');
    expect(await page.locator('tbody tr').count()).toBe(2);

    const kid = t.deps.keys.current.kid;
    const field = page.getByLabel("Type this key's kid to confirm").first();
    await field.fill('not the kid');
    await page.getByRole('button', { name: 'Revoke the current key' }).click();
    await page.waitForLoadState('load');
    expect(await page.getByRole('alert').textContent()).toContain('Nothing was revoked');
    expect(t.deps.keys.current.kid).toBe(kid);
    expect(await accessibilityViolations(page)).toEqual([]);

    await page.getByLabel("Type this key's kid to confirm").first().fill(kid);
    await page.getByRole('button', { name: 'Revoke the current key' }).click();
    await page.waitForURL(`${base}/admin/keys?done=replaced`);
    expect(await page.getByRole('status').textContent()).toContain('a new key signs from now on');
    expect(t.deps.keys.current.kid).not.toBe(kid);
    expect(await page.locator('tbody').textContent()).toContain('revoked');
    expect(await accessibilityViolations(page)).toEqual([]);
    expect(blocked, 'nothing the CSP refused').toEqual([]);
  });
});
