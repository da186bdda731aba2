import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteInfo } from '../../src/app.js';
import { bearer, GOOD_PASSWORD, signIn, signUp, startTestApp, uniqueEmail, type TestApp } from '../helpers/app.js';
import { serviceClients } from '../helpers/service-clients.js';

// Each route's schema declares the statuses it can answer (the OpenAPI document says so to clients). Every route
// is driven through the answers it can give here, and every answer's status must be among its declared ones.

let t: TestApp;
const clients = serviceClients(() => t, 'statuses');
let admin: Record<string, string>;
let feedOnly: Record<string, string>;
let readerOnly: Record<string, string>;
let email: string;
let access: string;

beforeAll(async () => {
  t = await startTestApp();
  const scopes = await clients.onePerScope();
  admin = clients.auth(await clients.client(['admin', 'users:read', 'revocations:read']));
  feedOnly = clients.auth(scopes.feedOnly);
  readerOnly = clients.auth(scopes.reader);
  email = (await signUp(t)).email;
  access = (await signIn(t, email)).access_token;
});
afterAll(async () => {
  await t?.close();
});

const isServiceRoute = (url: string) => url.startsWith('/api/admin/') || url.startsWith('/api/revocations/');
const usesBearer = (url: string) => /logout|dashboard|protected|\/auth\/user$|^\/api\/me\//.test(url);

let made = 0;

/** A valid body for each route that reads one. */
async function validBody(url: string): Promise<object | undefined> {
  if (/signup|register/.test(url)) return { name: 'Status Test', email: uniqueEmail('status'), password: GOOD_PASSWORD };
  if (/signin|login/.test(url)) return { email, password: GOOD_PASSWORD };
  if (url === '/api/refresh') return { refresh_token: (await signIn(t, email)).refresh_token };
  if (url === '/api/forgot-password') return { email };
  if (url.startsWith('/api/reset-password/') || url.startsWith('/reset-password/')) return { password: GOOD_PASSWORD, confirm_password: GOOD_PASSWORD };
  if (url === '/api/admin/webhooks') return { url: 'https://hooks.example.com/statuses', events: ['user.created'] };
  if (url === '/api/admin/services') return { name: `statuses-${++made}`, scopes: ['users:read'] };
  return undefined;
}

/** The path with its parameters filled: ids that exist (made fresh), ids that do not, or malformed ones. */
async function fill(url: string, kind: 'existing' | 'unknown' | 'malformed'): Promise<string> {
  let out = url;
  if (out.includes(':id') && out.startsWith('/api/admin/users')) {
    const id = kind === 'existing' ? (await signUp(t)).id : kind === 'unknown' ? '00000000-0000-4000-8000-000000000000' : 'not-an-id';
    out = out.replace(':id', id);
  }
  if (out.includes(':id') && out.startsWith('/api/admin/webhooks')) {
    const created = kind === 'existing' ? (await t.inject({ method: 'POST', url: '/api/admin/webhooks', headers: admin, payload: await validBody('/api/admin/webhooks') })).json() : undefined;
    out = out.replace(':id', created?.id ?? (kind === 'unknown' ? 'wh_unknown0000' : 'no spaces'));
  }
  if (out.includes(':id') && out.startsWith('/api/me/sessions')) {
    const id = kind === 'existing' ? (decodeJwt((await signIn(t, email)).access_token).sid as string) : kind === 'unknown' ? '00000000-0000-4000-8000-000000000000' : 'not-an-id';
    out = out.replace(':id', id);
  }
  if (out.includes(':name') && out.startsWith('/api/admin/services')) {
    const created = kind === 'existing' ? (await t.inject({ method: 'POST', url: '/api/admin/services', headers: admin, payload: await validBody('/api/admin/services') })).json() : undefined;
    out = out.replace(':name', created?.name ?? (kind === 'unknown' ? 'no-such-service' : '-malformed-'));
  }
  // An existing key: a next one, made here, so that revoking it ends no token the other routes use.
  if (out.includes(':kid')) out = out.replace(':kid', kind === 'existing' ? await t.deps.keys.rotate() : kind === 'unknown' ? 'A'.repeat(43) : 'not a kid!');
  out = out.replace(':deliveryId', kind === 'malformed' ? 'x' : '999999');
  return out.replace(':token', kind === 'malformed' ? 'x'.repeat(600) : 'unknown-reset-token');
}

/** Headers of a caller allowed to use the route; `fresh`: a session of its own (an earlier attempt may have logged the shared one out). */
async function allowed(url: string, fresh = false): Promise<Record<string, string>> {
  if (isServiceRoute(url)) return admin;
  // The account's own routes come after logout, which the shared session's attempts have ended by then.
  if (usesBearer(url)) return bearer(fresh || url.startsWith('/api/me/') ? (await signIn(t, email)).access_token : access);
  return {};
}

interface Attempt {
  name: string;
  headers?: Record<string, string>;
  payload?: string | object;
  kind?: 'existing' | 'unknown' | 'malformed';
}

async function attempts(route: RouteInfo): Promise<Attempt[]> {
  const caller = await allowed(route.url);
  // The body of a refusal is never used: a placeholder of the right shape does (no password is hashed for it).
  const body = route.url === '/api/refresh' ? { refresh_token: 'unused' } : await validBody(route.url);
  const json = { 'content-type': 'application/json' };
  const list: Attempt[] = [
    { name: 'no credentials', payload: body, kind: 'unknown' },
    { name: 'wrong Basic credentials', headers: { authorization: 'Basic bm9ib2R5Om5vdGhpbmc=' }, payload: body, kind: 'unknown' },
    { name: 'a garbage bearer token', headers: bearer('garbage.token.value'), payload: body, kind: 'unknown' },
    { name: 'a client with the wrong scope', headers: route.url.startsWith('/api/revocations/') ? readerOnly : feedOnly, payload: body, kind: 'unknown' },
    { name: 'malformed JSON', headers: { ...caller, ...json }, payload: '{"broken": ', kind: 'unknown' },
    { name: 'a text body', headers: { ...caller, 'content-type': 'text/plain' }, payload: 'hello', kind: 'unknown' },
    { name: 'an invalid body', headers: caller, payload: { email: 5, name: '', password: 7, url: 5, events: 'x', refresh_token: 5 }, kind: 'unknown' },
    { name: 'an unknown id', headers: caller, payload: body, kind: 'unknown' },
    { name: 'a malformed id', headers: caller, payload: body, kind: 'malformed' },
  ];
  // A stream let through stays open: only its refusals are driven here (its 200 is what test/revocation-feed reads).
  if (route.url.startsWith('/api/revocations/')) return list.slice(0, 4);
  // The success last: it may delete what it names.
  list.push({ name: 'success', headers: await allowed(route.url, true), payload: await validBody(route.url), kind: 'existing' });
  return list;
}

describe('every route declares the statuses it answers', () => {
  it('declares at least one status on every documented route', () => {
    const undeclared = t.app.routeList.filter((r) => !r.hidden && r.statuses.length === 0);
    expect(undeclared).toEqual([]);
  });

  it('answers only declared statuses, whatever it is sent', async () => {
    const unexpected: string[] = [];
    const seen = new Set<string>();
    for (const route of t.app.routeList.filter((r) => !r.hidden && r.statuses.length > 0)) {
      for (const attempt of await attempts(route)) {
        const url = await fill(route.url, attempt.kind ?? 'existing');
        const withBody = route.method !== 'GET' && attempt.payload !== undefined;
        const res = await t.inject({ method: route.method as 'GET', url, headers: attempt.headers ?? {}, ...(withBody ? { payload: attempt.payload } : {}) });
        seen.add(`${route.method} ${route.url} ${res.statusCode}`);
        if (!route.statuses.includes(res.statusCode)) unexpected.push(`${route.method} ${route.url} (${attempt.name}): ${res.statusCode} ${res.body.slice(0, 120)}`);
      }
    }
    expect(unexpected).toEqual([]);
    // The drive reached the answers it is for: successes, refusals of credentials and scopes, bad input, unknown ids.
    for (const answer of ['POST /api/signup 201', 'POST /api/signin 200', 'GET /api/dashboard 200', 'POST /api/logout 200', 'GET /api/admin/users 200',
      'DELETE /api/admin/users/:id 200', 'POST /api/admin/webhooks 201', 'GET /api/admin/users 401', 'GET /api/admin/users 403', 'DELETE /api/admin/users/:id 404',
      'POST /api/signup 400', 'POST /api/signup 415', 'GET /api/revocations/stream 401', 'GET /api/revocations/stream 403', 'POST /api/admin/webhooks/deliveries/:deliveryId/replay 404',
      'GET /api/me/sessions 200', 'DELETE /api/me/sessions/:id 200', 'DELETE /api/me/sessions/:id 404', 'GET /api/me/activity 200', 'GET /api/me/export 200',
      'POST /api/admin/services 201', 'POST /api/admin/services/:name/rotate 200', 'DELETE /api/admin/services/:name 404',
      'GET /api/admin/audit-events 200'])
      expect(seen, answer).toContain(answer);
  }, 300_000);
});
