import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { adminBrowser } from '../helpers/admin-browser.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { freePort } from '../helpers/services.js';
import { anyOf, describeUnless, ON_POSTGRES } from '../helpers/skip.js';

// The console's signing keys in a real browser (Debian's Chromium, driven by playwright-core): "Rotate now", a
// revocation refused while the kid typed is wrong, then done; axe-core on each page, light and dark; nothing refused
// by the CSP. Once, on the embedded engine: the page is the same on both.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HOST = 'latchkey.test';
const noChromium = existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM}: on Debian, apt-get install -y chromium, or set CHROMIUM_PATH`;
if (noChromium && process.env.CI === 'true') throw new Error(`admin-keys-browser: ${noChromium}; CI installs it in .ci/run`);

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

describeUnless(anyOf(noChromium, ON_POSTGRES))('the console\'s signing keys in Chromium', () => {
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
