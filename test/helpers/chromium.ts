import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { adminBrowser } from './admin-browser.js';
import { startTestApp, type TestApp, type TestAppOptions } from './app.js';
import { freePort } from './services.js';
import type { SkipReason } from './skip.js';

/**
 * What the browser tests share: Debian's Chromium driven by playwright-core (never a browser download), the host
 * name the pages are reached under (Chromium maps it to 127.0.0.1 itself, so no hosts file is touched), axe-core's
 * check of a page, light and dark, and its screenshots.
 */

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const BROWSER_HOST = 'latchkey.test';

/** Why a browser test file cannot run here, if it cannot; under CI=true a missing Chromium fails the file instead. */
export function chromiumMissing(file: string): SkipReason {
  const reason = existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM}: on Debian, apt-get install -y chromium, or set CHROMIUM_PATH`;
  if (reason && process.env.CI === 'true') throw new Error(`${file}: ${reason}; CI installs it in .ci/run`);
  return reason;
}

/** Chromium with BROWSER_HOST mapped to 127.0.0.1 (and `hostRules`, more "MAP name 127.0.0.1" rules), and `args`. */
export function launchChromium(opts: { hostRules?: readonly string[]; args?: readonly string[] } = {}): Promise<Browser> {
  const rules = [`MAP ${BROWSER_HOST} 127.0.0.1`, ...(opts.hostRules ?? [])].join(', ');
  return chromium.launch({ executablePath: CHROMIUM, args: [`--host-resolver-rules=${rules}`, ...(opts.args ?? []), '--no-sandbox'] });
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * axe-core's serious and critical violations on the page as it stands, light and dark (the colours change, and with
 * them the contrast); axe runs through the debugger protocol, past the page's CSP.
 */
export async function accessibilityViolations(page: Page): Promise<string[]> {
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

// Every page the tests reach, at 1440 and 375 px wide, light and dark: test-results/screenshots/ (not committed;
// docs/images/ holds a few of them).
const SHOTS = join(process.cwd(), 'test-results', 'screenshots');

export async function screenshots(page: Page, name: string): Promise<void> {
  await mkdir(SHOTS, { recursive: true });
  for (const width of [1440, 375]) {
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.setViewportSize({ width, height: 900 });
      await page.emulateMedia({ colorScheme });
      await page.screenshot({ path: join(SHOTS, `${name}-${width}-${colorScheme}.png`), fullPage: true });
    }
  }
  await page.setViewportSize({ width: 1280, height: 720 });
  await page.emulateMedia({ colorScheme: 'light' });
}

/** Latchkey listening under http://BROWSER_HOST:<a free port>, which is its PUBLIC_URL. */
export async function appUnderHost(options: TestAppOptions = {}): Promise<{ t: TestApp; base: string }> {
  const port = await freePort();
  const base = `http://${BROWSER_HOST}:${port}`;
  const t = await startTestApp({ ...options, env: { PUBLIC_URL: base, ...options.env } });
  await t.app.listen({ port, host: '127.0.0.1' });
  return { t, base };
}

/** What the page's Content Security Policy refuses from now on, as Chromium reports it on the console (a list that grows). */
export function refusedByCsp(page: Page): string[] {
  const blocked: string[] = [];
  page.on('console', (m) => {
    if (/Content.Security.Policy/i.test(m.text())) blocked.push(m.text());
  });
  return blocked;
}

/** A page of Chromium signed in as a new admin at aal2 (the console's gate), and what the CSP refused on it. */
export async function adminPage(t: TestApp, browser: Browser, base: string): Promise<{ page: Page; blocked: string[] }> {
  const admin = await adminBrowser(t);
  const context = await browser.newContext();
  await context.addCookies([...admin.jar].map(([name, value]) => ({ name, value, url: base, httpOnly: true, sameSite: 'Lax' as const })));
  const page = await context.newPage();
  return { page, blocked: refusedByCsp(page) };
}
