import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createOAuthClient } from '../../src/auth/oauth/clients.js';
import type { OAuthClientCredentials } from '../../src/auth/oauth/clients.js';
import { signUp, type SignedUp, type TestApp } from '../helpers/app.js';
import { accessibilityViolations, appUnderHost, chromiumMissing, launchChromium, refusedByCsp, screenshots } from '../helpers/chromium.js';
import { anyOf, describeUnless, ON_POSTGRES } from '../helpers/skip.js';

// The OpenID Provider's pages in a real browser (Debian's Chromium, driven by playwright-core): an application on
// another origin sends a signed-out browser to /oauth/authorize; it signs in on /login, allows the application on the
// consent page, and arrives back at the application with a code, through the page that navigates past the forms' CSP;
// the user then removes the application's access from /account, and the application's logout asks before signing out.
// axe-core on each page, light and dark; nothing refused by the CSP. Once, on the embedded engine.
const noChromium = chromiumMissing('oauth-browser');

describeUnless(anyOf(noChromium, ON_POSTGRES))('the OpenID Provider\'s pages in Chromium', () => {
  let t: TestApp;
  let base: string;
  let browser: Browser;
  let app: Server;
  let appUrl: string;
  let client: OAuthClientCredentials;
  let user: SignedUp;
  let page: Page;
  let blocked: string[] = [];
  const verifier = randomBytes(32).toString('base64url');

  beforeAll(async () => {
    ({ t, base } = await appUnderHost());
    // The application: another origin, a page for every address it is sent back to.
    app = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>The app</title><p>back at the app</p>'));
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
    client = await createOAuthClient(
      t.deps,
      { name: 'Partner-App', redirectUris: [`${appUrl}/cb`], postLogoutRedirectUris: [`${appUrl}/bye`], firstParty: false },
      'test',
    );
    user = await signUp(t);
    browser = await launchChromium();
    page = await (await browser.newContext()).newPage();
    blocked = refusedByCsp(page);
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => app?.close(resolve));
    await t?.close();
  });

  it('signs a signed-out browser in, asks its consent, and sends it back to the application with a code', async () => {
    const query = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: `${appUrl}/cb`,
      response_type: 'code',
      scope: 'openid profile email',
      state: 'the-state',
      nonce: 'the-nonce',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    });
    await page.goto(`${base}/oauth/authorize?${query}`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.getByLabel('Email').fill(user.email);
    await page.getByLabel('Password', { exact: true }).fill(user.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForLoadState('load');

    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Allow access');
    expect(await page.locator('main').textContent()).toContain('Partner-App asks to:');
    expect(await page.locator('main li').allTextContents()).toEqual([
      'Know who you are on this site (an identifier of your account)',
      'See your name',
      'See your email address, and whether it is verified',
    ]);
    expect(await accessibilityViolations(page)).toEqual([]);
    await screenshots(page, 'oauth-consent');
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${appUrl}/cb?**`);

    const back = new URL(page.url());
    expect(back.searchParams.get('state')).toBe('the-state');
    expect(back.searchParams.get('iss')).toBe(t.deps.config.jwt.issuer);
    const res = await t.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}` },
      payload: new URLSearchParams({ grant_type: 'authorization_code', code: back.searchParams.get('code')!, redirect_uri: `${appUrl}/cb`, code_verifier: verifier }).toString(),
    });
    expect(res.statusCode).toBe(200);
    expect(decodeJwt(res.json().id_token)).toMatchObject({ sub: user.id, aud: client.client_id, nonce: 'the-nonce', email: user.email });
    expect(blocked, 'nothing the CSP refused').toEqual([]);
  });

  it('lists the application on /account and removes its access', async () => {
    await page.goto(`${base}/account`);
    const apps = page.locator('#apps + *');
    expect(await apps.textContent()).toContain('Partner-App');
    expect(await accessibilityViolations(page)).toEqual([]);
    await screenshots(page, 'oauth-account-apps');
    await page.getByRole('button', { name: 'Remove access' }).click();
    await page.waitForLoadState('load');
    expect(await page.locator('main').textContent()).toContain('The application no longer has access.');
    expect(await page.locator('main').textContent()).toContain('No application has access to your account.');
    expect(blocked, 'nothing the CSP refused').toEqual([]);
  });

  it('asks before signing out for an application that does not name this browser\'s sign-in, then goes back to it', async () => {
    await page.goto(`${base}/oauth/logout?${new URLSearchParams({ client_id: client.client_id, post_logout_redirect_uri: `${appUrl}/bye`, state: 's' })}`);
    expect(await page.locator('main').textContent()).toContain('Partner-App asks you to sign out. Sign out of this site?');
    expect(await accessibilityViolations(page)).toEqual([]);
    await screenshots(page, 'oauth-logout-question');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${appUrl}/bye?**`);
    expect(new URL(page.url()).searchParams.get('state')).toBe('s');
    await page.goto(`${base}/account`);
    expect(new URL(page.url()).pathname).toBe('/login');
    expect(blocked, 'nothing the CSP refused').toEqual([]);
  });
});
