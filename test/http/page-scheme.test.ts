import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';

// Every HTML page Latchkey serves, reached by any host name, must load its own CSS and JS over the scheme
// PUBLIC_URL names: a CSP `upgrade-insecure-requests` on a plain-HTTP page makes the browser fetch them over
// https, and the page stays blank. Over https, HSTS is what moves browsers to https.
const PAGES = ['/docs/', '/reset-password/some-token', '/login', '/signup'];

for (const scheme of ['http', 'https'] as const) {
  describe(`HTML pages when PUBLIC_URL is ${scheme}`, () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp({ env: { PUBLIC_URL: `${scheme}://auth.example.test` } });
    });
    afterAll(() => t.close());

    it(scheme === 'http' ? 'carry no upgrade-insecure-requests' : 'send HSTS and no upgrade-insecure-requests', async () => {
      for (const url of PAGES) {
        const res = await t.inject({ method: 'GET', url, headers: { host: 'devbox:5001' } });
        expect(res.headers['content-type'], url).toMatch(/^text\/html/);
        const csp = String(res.headers['content-security-policy']);
        expect(csp, url).toMatch(/default-src/);
        expect(csp, url).not.toMatch(/upgrade-insecure-requests/);
        if (scheme === 'https') expect(res.headers['strict-transport-security'], url).toBe('max-age=31536000; includeSubDomains');
      }
    });
  });
}
