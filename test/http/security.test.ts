import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, GOOD_PASSWORD, signIn, signUp, startTestApp, uniqueEmail, type TestApp } from '../helpers/app.js';
import { startSmtpServer } from '../helpers/smtp.js';

describe('logs', () => {
  it('hold no password, token, reset link or SMTP password, even at trace level', async () => {
    const smtpPass = 'smtp-password-never-logged';
    const smtp = await startSmtpServer({ auth: { user: 'latchkey', pass: smtpPass } });
    const t = await startTestApp({
      env: { LOG_LEVEL: 'trace', SMTP_URL: smtp.url.replace('smtp://', `smtp://latchkey:${smtpPass}@`) },
    });
    try {
      const user = await signUp(t);
      const tokens = await signIn(t, user.email);
      const next = (await t.inject({ method: 'POST', url: '/api/refresh', payload: { refresh_token: tokens.refresh_token } })).json();
      await t.inject({ method: 'GET', url: '/api/dashboard', headers: bearer(next.access_token) });
      await t.inject({ method: 'POST', url: '/api/signin', payload: { email: user.email, password: 'a wrong password here' } });
      await t.inject({ method: 'POST', url: '/api/forgot-password', payload: { email: user.email } });
      const mail = await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Reset your password');
      const resetToken = /reset-password\/([A-Za-z0-9_-]+)/.exec(mail.text)![1]!;
      await t.inject({ method: 'GET', url: `/reset-password/${resetToken}` });
      const newPassword = 'a brand new passphrase';
      expect((await t.inject({ method: 'POST', url: `/api/reset-password/${resetToken}`, payload: { password: newPassword } })).statusCode).toBe(200);
      await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(next.access_token) });

      const logs = t.logs.join('');
      expect(logs.length).toBeGreaterThan(1000);
      for (const secret of [GOOD_PASSWORD, 'a wrong password here', newPassword, tokens.access_token, tokens.refresh_token, next.access_token, next.refresh_token, resetToken, smtpPass]) {
        expect(logs.includes(secret), secret.slice(0, 8)).toBe(false);
      }
    } finally {
      await t.close();
      await smtp.close();
    }
  });
});

describe('security headers', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('are on every JSON answer: the REST set OWASP lists, and no CORS unless configured', async () => {
    for (const url of ['/', '/api/nope', '/.well-known/jwks.json', '/api/dashboard']) {
      const res = await t.inject({ method: 'GET', url, headers: { origin: 'https://evil.example' } });
      expect(res.headers['content-security-policy'], url).toBe("frame-ancestors 'none'");
      expect(res.headers['strict-transport-security'], url).toBe('max-age=31536000; includeSubDomains');
      expect(res.headers['x-content-type-options'], url).toBe('nosniff');
      expect(res.headers['x-frame-options'], url).toBe('DENY');
      expect(res.headers['cache-control'], url).toMatch(/no-store|public, max-age/);
      expect(res.headers['content-type'], url).toMatch(/^application\/json/);
      // What only browsers rendering a page read is not sent with JSON.
      for (const pageOnly of ['cross-origin-opener-policy', 'x-dns-prefetch-control', 'x-download-options', 'origin-agent-cluster'])
        expect(res.headers[pageOnly], `${url} ${pageOnly}`).toBeUndefined();
      expect(res.headers['access-control-allow-origin'], url).toBeUndefined();
      expect(res.headers['x-powered-by'], url).toBeUndefined();
    }
  });

  it('are the full set on HTML pages (the reset page, the API docs, the sign-in page)', async () => {
    // helmet's set, computed once at start-up (security-headers.ts): every one of its headers on every page.
    const HELMET = ['cross-origin-opener-policy', 'cross-origin-resource-policy', 'origin-agent-cluster', 'x-dns-prefetch-control', 'x-download-options', 'x-permitted-cross-domain-policies', 'x-xss-protection'];
    for (const url of ['/reset-password/some-token', '/docs/', '/login']) {
      const res = await t.inject({ method: 'GET', url });
      expect(res.headers['content-type'], url).toMatch(/^text\/html/);
      expect(res.headers['content-security-policy'], url).toMatch(/default-src/);
      expect(res.headers['content-security-policy'], url).toMatch(/frame-ancestors 'none'/);
      expect(res.headers['strict-transport-security'], url).toBeDefined();
      expect(res.headers['referrer-policy'], url).toBe(url === '/login' ? 'same-origin' : 'no-referrer');
      expect(res.headers['x-content-type-options'], url).toBe('nosniff');
      expect(res.headers['x-frame-options'], url).toBe('DENY');
      expect(res.headers['cross-origin-opener-policy'], url).toBe('same-origin');
      for (const name of HELMET) expect(res.headers[name], `${url} ${name}`).toBeDefined();
      expect(res.headers['x-xss-protection'], url).toBe('0');
      expect(res.headers['cache-control'], url).toBeDefined();
      expect(res.headers['x-request-id'], url).toBeDefined();
    }
  });

  it('allow exactly the origins in CORS_ORIGINS', async () => {
    const withCors = await startTestApp({ env: { CORS_ORIGINS: 'https://app.example, https://admin.example' } });
    try {
      const preflight = (origin: string) =>
        withCors.inject({
          method: 'OPTIONS',
          url: '/api/signin',
          headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
        });
      const ok = await preflight('https://app.example');
      expect(ok.headers['access-control-allow-origin']).toBe('https://app.example');
      expect(ok.headers['access-control-allow-methods']).toContain('POST');
      expect((await preflight('https://evil.example')).headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await withCors.close();
    }
  });
});

describe('breached-password check (HIBP_URL)', () => {
  const breached = 'this exact phrase leaked';
  let server: Server;
  let url: string;
  const paths: string[] = [];
  let mode: 'ok' | 'slow' | 'error' = 'ok';

  beforeAll(async () => {
    const sha1 = createHash('sha1').update(breached).digest('hex').toUpperCase();
    server = createServer((req, res) => {
      paths.push(req.url ?? '');
      if (mode === 'error') return res.writeHead(500).end();
      const answer = () => {
        const lines = ['0018A45C4D1DEF81644B54AB7F969B88D65:1', '00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2'];
        if (req.url === `/range/${sha1.slice(0, 5)}`) lines.push(`${sha1.slice(5)}:3861493`);
        res.writeHead(200, { 'content-type': 'text/plain' }).end(lines.join('\r\n'));
      };
      if (mode === 'slow') setTimeout(answer, 1000);
      else answer();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  it('refuses a breached password, sending only the first five characters of its SHA-1', async () => {
    const t = await startTestApp({ env: { HIBP_URL: url, HIBP_TIMEOUT: '300' } });
    try {
      mode = 'ok';
      const res = await t.inject({ method: 'POST', url: '/api/signup', payload: { name: 'A', email: uniqueEmail(), password: breached } });
      expect(res.statusCode).toBe(422);
      expect(res.json().error).toBe('password_breached');
      expect(paths.at(-1)).toMatch(/^\/range\/[0-9A-F]{5}$/);
      const fine = await t.inject({ method: 'POST', url: '/api/signup', payload: { name: 'A', email: uniqueEmail(), password: GOOD_PASSWORD } });
      expect(fine.statusCode).toBe(201);
    } finally {
      await t.close();
    }
  });

  it('lets passwords through, with a log line, when the service fails or is slow', async () => {
    const t = await startTestApp({ env: { HIBP_URL: url, HIBP_TIMEOUT: '300' } });
    try {
      for (const m of ['error', 'slow'] as const) {
        mode = m;
        const res = await t.inject({ method: 'POST', url: '/api/signup', payload: { name: 'A', email: uniqueEmail(), password: breached } });
        expect(res.statusCode, m).toBe(201);
      }
      expect(t.logs.filter((l) => l.includes('breached-password check unavailable'))).toHaveLength(2);
    } finally {
      mode = 'ok';
      await t.close();
    }
  });
});
