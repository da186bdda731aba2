import * as oidc from 'openid-client';
import { expect } from 'vitest';
import { createOAuthClient, type NewOAuthClient, type OAuthClientCredentials } from '../../src/auth/oauth/clients.js';
import type { Browser } from './admin-browser.js';
import type { TestApp } from './app.js';

/**
 * OAuth and OpenID Connect in tests: relying-party libraries nobody here wrote (openid-client, oauth4webapi) talk to
 * the app through a fetch that goes to `inject`, and a test Browser (cookies, forms) plays the user's browser.
 */

export const REDIRECT_URI = 'https://app.example/callback';
export const POST_LOGOUT_URI = 'https://app.example/signed-out';

/** A fetch that answers from the app itself (its PUBLIC_URL's requests), as openid-client's and oauth4webapi's customFetch. */
export function injectFetch(t: TestApp) {
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((value, name) => void (headers[name] = value));
    const body = init?.body === undefined || init.body === null ? undefined : String(init.body);
    const res = await t.inject({ method: (init?.method ?? 'GET') as 'GET', url: `${url.pathname}${url.search}`, headers, ...(body === undefined ? {} : { payload: body }) });
    const answer = new Headers();
    for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) answer.set(name, Array.isArray(value) ? value.join(', ') : String(value));
    return new Response(res.statusCode === 204 || res.statusCode === 304 ? null : res.body, { status: res.statusCode, headers: answer });
  };
}

/** Registers a client through the domain function the command line uses. */
export function registerClient(t: TestApp, fields: Partial<NewOAuthClient> = {}): Promise<OAuthClientCredentials> {
  return createOAuthClient(
    t.deps,
    { name: `app-${Math.random().toString(36).slice(2, 10)}`, redirectUris: [REDIRECT_URI], postLogoutRedirectUris: [POST_LOGOUT_URI], firstParty: true, ...fields },
    'test',
  );
}

/** openid-client's configuration of a client, discovered from the app (a secret's Basic authentication, or none for a public client). */
export async function discover(t: TestApp, client: { client_id: string; client_secret?: string | null }, auth?: oidc.ClientAuth): Promise<oidc.Configuration> {
  const clientAuth = auth ?? (client.client_secret ? oidc.ClientSecretBasic(client.client_secret) : oidc.None());
  const config = await oidc.discovery(new URL(t.deps.config.publicUrl), client.client_id, undefined, clientAuth, {
    execute: [oidc.allowInsecureRequests],
    [oidc.customFetch]: injectFetch(t) as never,
  });
  config[oidc.customFetch] = injectFetch(t) as never;
  return config;
}

/** A path of this app from an absolute URL of it. */
export const pathOf = (url: string | URL) => {
  const u = new URL(url, 'http://latchkey.test');
  return `${u.pathname}${u.search}`;
};

/** The address a meta refresh (the page that navigates after a form) goes on to. */
export const continuedTo = (body: string) => {
  const found = /http-equiv="refresh" content="0;url=([^"]+)"/.exec(body)?.[1];
  return found?.replaceAll('&amp;', '&').replaceAll('&#39;', "'").replaceAll('&quot;', '"');
};

/**
 * Follows an authorization request in a browser until it leaves for the client's redirect URI: redirects within the
 * app and the pages that navigate after a form; `onPage` answers any other page (consent, step-up) and says where to
 * go next, or returns undefined to stop there.
 */
export async function followToClient(
  browser: Browser,
  start: string,
  onPage?: (res: { statusCode: number; body: string }, path: string) => Promise<{ statusCode: number; body: string; headers: Record<string, unknown> } | undefined>,
): Promise<{ location: URL | undefined; last: { statusCode: number; body: string } }> {
  let res = await browser.get(pathOf(start));
  let path = pathOf(start);
  for (let hops = 0; hops < 12; hops++) {
    const location = res.statusCode === 303 || res.statusCode === 302 ? String(res.headers.location) : continuedTo(res.body);
    if (location) {
      const to = new URL(location, 'http://latchkey.test');
      if (to.origin !== 'http://latchkey.test') return { location: to, last: res };
      path = pathOf(to);
      res = await browser.get(path);
      continue;
    }
    const next = onPage && (await onPage(res, path));
    if (!next) return { location: undefined, last: res };
    res = next as typeof res;
  }
  throw new Error('too many hops');
}

/** A fresh PKCE pair, state and nonce, and the authorization URL openid-client builds with them. */
export async function authorizationRequest(config: oidc.Configuration, extra: Record<string, string> = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  });
  return { url, verifier, state, nonce };
}

/** The code flow for a signed-in browser, through to openid-client's checked tokens. */
export async function codeFlow(config: oidc.Configuration, browser: Browser, extra: Record<string, string> = {}) {
  const request = await authorizationRequest(config, extra);
  const { location } = await followToClient(browser, request.url.href);
  expect(location?.origin, 'back to the client').toBe(new URL(REDIRECT_URI).origin);
  const tokens = await oidc.authorizationCodeGrant(config, location!, { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
  return { tokens, request, location: location! };
}
