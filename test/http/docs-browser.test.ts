import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { BROWSER_HOST, chromiumMissing, launchChromium } from '../helpers/chromium.js';
import { describeUnless } from '../helpers/skip.js';

// /docs in a real browser, reached by a host name other than localhost over plain HTTP (as
// http://devbox:5001/docs is): every operation of /openapi.json is rendered. Chromium maps the name to
// 127.0.0.1 itself, so no hosts file is touched. Debian's chromium only: `apt-get install -y chromium`.
const HOST = BROWSER_HOST;
const noChromium = chromiumMissing('docs-browser');

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

describeUnless(noChromium)('/docs in Chromium, by a host name over plain HTTP', () => {
  let t: TestApp;
  let browser: Browser;
  let port: string;
  beforeAll(async () => {
    t = await startTestApp();
    port = new URL(await t.listen()).port;
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('renders every operation of /openapi.json', async () => {
    const spec = (await t.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
    const operations = Object.values(spec.paths).flatMap((item) => Object.keys(item).filter((key) => HTTP_METHODS.has(key))).length;
    expect(operations).toBeGreaterThan(10);

    const page = await browser.newPage();
    const failed: string[] = [];
    page.on('requestfailed', (request) => failed.push(`${request.url()} ${request.failure()?.errorText ?? ''}`));
    await page.goto(`http://${HOST}:${port}/docs`, { waitUntil: 'load' });
    await page.waitForSelector('.opblock', { timeout: 15_000 }).catch(() => undefined);
    const rendered = await page.locator('.opblock').count();
    expect(failed, 'requests the page could not load').toEqual([]);
    expect(rendered).toBe(operations);
  });
});
