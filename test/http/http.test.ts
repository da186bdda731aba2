import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTE_ALIASES } from '../../src/http/aliases.js';
import { ERRORS } from '../../src/errors.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    beforeReady: (app) => {
      app.get('/test/boom', { schema: { hide: true } }, async () => {
        throw new Error('secret internal detail at /srv/latchkey/db.ts:42');
      });
      app.get('/test/deadlock', { schema: { hide: true } }, async () => {
        throw Object.assign(new Error('Failed query: delete from "reset_tokens"'), {
          cause: Object.assign(new Error('deadlock detected'), { code: '40P01', severity: 'ERROR' }),
        });
      });
    },
  });
});
afterAll(() => t.close());

describe('public routes', () => {
  it('GET / says the service is online', async () => {
    const res = await t.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ message: expect.any(String), status: 'online' });
  });

  it('GET /api/public answers without a token', async () => {
    const res = await t.inject({ method: 'GET', url: '/api/public' });
    expect(res.json()).toEqual({ message: 'This is a public endpoint' });
  });

  it('GET /healthz and /readyz report alive and ready', async () => {
    expect((await t.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await t.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ready' });
  });

  it('sends no X-Powered-By, and nosniff and no-store everywhere', async () => {
    const res = await t.inject({ method: 'GET', url: '/' });
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('errors', () => {
  it('answers an unknown route with 404 and the error body', async () => {
    const res = await t.inject({ method: 'GET', url: '/api/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: 'not_found', message: 'No route for GET /api/nope.' });
  });

  it('answers a malformed URL with 400', async () => {
    const res = await t.inject({ method: 'GET', url: '/api/%E0%A4%A' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_request');
  });

  it('answers an unexpected failure with 500, a request id and nothing internal', async () => {
    const res = await t.inject({ method: 'GET', url: '/test/boom' });
    expect(res.statusCode).toBe(500);
    const body = res.json();
    expect(body).toEqual({ error: 'internal_error', message: 'An unexpected error occurred.', request_id: res.headers['x-request-id'] });
    expect(res.body).not.toMatch(/secret|srv|stack|\.ts/);
    expect(t.logs.join('')).toContain('secret internal detail');
  });

  it('answers a deadlock or serialization failure of the database with 503, to be tried again', async () => {
    const res = await t.inject({ method: 'GET', url: '/test/deadlock' });
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toBe('database_unavailable');
  });

  it('every error code has a 4xx or 5xx status and a message', () => {
    for (const [code, { status, message }] of Object.entries(ERRORS)) {
      expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(600);
      expect(message.length).toBeGreaterThan(5);
    }
  });
});

describe('OpenAPI', () => {
  it('documents every route, aliases included, at /openapi.json', async () => {
    const res = await t.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe('3.1.0');
    const visible = t.app.routeList.filter((r) => !r.hidden);
    expect(visible.length).toBeGreaterThan(15);
    for (const route of visible) {
      const path = route.url.replace(/:(\w+)/g, '{$1}');
      expect(doc.paths[path], `${route.method} ${route.url}`).toBeDefined();
      expect(doc.paths[path][route.method.toLowerCase()], `${route.method} ${route.url}`).toBeDefined();
    }
    for (const aliases of Object.values(ROUTE_ALIASES)) for (const alias of aliases) expect(doc.paths[alias]).toBeDefined();
  });

  it('declares request bodies and responses from the route schemas', async () => {
    const doc = (await t.inject({ method: 'GET', url: '/openapi.json' })).json();
    const signup = doc.paths['/api/signup'].post;
    expect(signup.requestBody.content['application/json'].schema.required).toEqual(['name', 'email', 'password']);
    expect(Object.keys(signup.responses)).toEqual(expect.arrayContaining(['201', '400', '409', '415', '422']));
    expect(doc.paths['/api/dashboard'].get.security).toEqual([{ bearerAuth: [] }]);
  });

  it('documents what the server does: refresh takes its token as a header or in an optional body', async () => {
    const doc = (await t.inject({ method: 'GET', url: '/openapi.json' })).json();
    const refresh = doc.paths['/api/refresh'].post;
    expect(refresh.requestBody.required).toBe(false);
    expect(refresh.security).toEqual([{ refreshToken: [] }, {}]);
    expect(doc.components.securitySchemes.refreshToken).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(JSON.stringify(doc)).not.toContain('x-body-optional');
  });

  it('documents the reset pages\' answers: HTML pages, and the JSON errors they can give', async () => {
    const doc = (await t.inject({ method: 'GET', url: '/openapi.json' })).json();
    const page = doc.paths['/reset-password/{token}'];
    expect(Object.keys(page.get.responses)).toEqual(expect.arrayContaining(['200', '400']));
    expect(page.get.responses['200'].content['text/html']).toBeDefined();
    expect(Object.keys(page.post.responses)).toEqual(expect.arrayContaining(['200', '400', '422', '429']));
    expect(page.post.responses['422'].content['text/html']).toBeDefined();
    expect(page.post.responses['429'].content['application/json']).toBeDefined();
  });

  it('serves an interactive page at /docs, branded as Latchkey', async () => {
    const res = await t.inject({ method: 'GET', url: '/docs/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.body).toMatch(/swagger/i);
    expect(res.body).toContain('<title>Latchkey API</title>');
    const init = await t.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' });
    const logo = /data:image\/svg\+xml;base64,([A-Za-z0-9+/=]+)/.exec(init.body)?.[1];
    expect(Buffer.from(logo ?? '', 'base64').toString()).toContain('>Latchkey</text>');
  });
});
