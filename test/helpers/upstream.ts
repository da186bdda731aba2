import { expect } from 'vitest';
import { Browser } from './admin-browser.js';
import { PUBLIC_URL, type TestApp } from './app.js';
import type { TestOp } from './upstream-op.js';

/** The redirect URI of a provider of the test app. */
export const callbackOf = (name: string) => `${PUBLIC_URL}/api/signin/${name}/callback`;

/** Starts a sign-in at Latchkey (`start`: the path with its query) in `browser`: the provider's authorization URL. */
export async function startAt(browser: Browser, start: string): Promise<string> {
  const res = await browser.get(start);
  expect(res.statusCode, res.body).toBe(303);
  return res.headers.location as string;
}

/** Through the provider and back: the callback path (with its query) the provider sent the browser to. */
export async function throughProvider(op: Pick<TestOp, 'authorize'>, authorizationUrl: string, name: string): Promise<string> {
  return (await op.authorize(authorizationUrl, callbackOf(name))).slice(PUBLIC_URL.length);
}

/** A whole browser sign-in through provider `name`: the callback's answer. */
export async function signInThrough(t: TestApp, op: Pick<TestOp, 'authorize'>, name: string, browser = new Browser(t), returnTo = '/account') {
  const url = await startAt(browser, `/api/signin/${name}?return_to=${encodeURIComponent(returnTo)}`);
  const res = await browser.get(await throughProvider(op, url, name));
  return { browser, res };
}
