import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { Browser } from './admin-browser.js';
import { csrfOf } from './admin-browser.js';
import type { TestApp } from './app.js';
import { continuedTo } from './oauth.js';

/**
 * An OAuth client's sign-in through Latchkey, as a relying party and its user's browser go through it: the
 * authorization request (PKCE, S256), the consent page answered "Allow" when the client is a third party's, the
 * browser's way back with a code, and the code exchanged at the token endpoint.
 *
 *   const tokens = await oauthSignIn(t, browser, client, 'https://app.example/cb');
 */

export interface OAuthTokens {
  access_token: string;
  refresh_token: string;
  id_token?: string;
  scope: string;
}

const unescapeHtml = (s: string) => s.replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');


/** The code the browser comes back to the client with. */
export async function authorizationCode(
  browser: Browser,
  client: { client_id: string },
  redirectUri: string,
  scope = 'openid profile email offline_access',
): Promise<{ code: string; verifier: string }> {
  const verifier = randomBytes(32).toString('base64url');
  const query = new URLSearchParams({
    client_id: client.client_id,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope,
    state: randomBytes(8).toString('hex'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  });
  const asked = await browser.get(`/oauth/authorize?${query}`);
  let back: string;
  if (asked.statusCode === 303) back = String(asked.headers.location);
  else {
    expect(asked.statusCode, asked.body).toBe(200);
    expect(asked.body).toContain('action="/oauth/authorize/consent"');
    const carried = unescapeHtml(/name="request" value="([^"]*)"/.exec(asked.body)?.[1] ?? '');
    const allowed = await browser.post('/oauth/authorize/consent', { csrf: csrfOf(asked.body), request: carried, decision: 'allow' });
    expect(allowed.statusCode, allowed.body).toBe(200);
    back = continuedTo(allowed.body) ?? '';
  }
  const code = new URL(back).searchParams.get('code');
  expect(code, back).toBeTruthy();
  return { code: code!, verifier };
}

/** A form post to one of the OAuth endpoints. */
export function tokenRequest(t: TestApp, fields: Record<string, string>, path = '/oauth/token') {
  return t.inject({ method: 'POST', url: path, payload: new URLSearchParams(fields).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
}

/** The client's tokens for the browser's user: a code, exchanged with the client's secret (client_secret_post). */
export async function oauthSignIn(
  t: TestApp,
  browser: Browser,
  client: { client_id: string; client_secret: string | null },
  redirectUri: string,
  scope?: string,
): Promise<OAuthTokens> {
  const { code, verifier } = await authorizationCode(browser, client, redirectUri, scope);
  const res = await tokenRequest(t, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirectUri,
    code_verifier: verifier,
    client_id: client.client_id,
    ...(client.client_secret ? { client_secret: client.client_secret } : {}),
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

/** A refresh at the token endpoint for the client. */
export function refreshAsClient(t: TestApp, client: { client_id: string; client_secret: string | null }, refreshToken: string) {
  return tokenRequest(t, {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: client.client_id,
    ...(client.client_secret ? { client_secret: client.client_secret } : {}),
  });
}
