import express from 'express';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, type Verifier } from '../src/index.js';
import { latchkey as expressLatchkey, requireAal as expressRequireAal } from '../src/express.js';
import { authenticate, latchkey as fastifyLatchkey, requireAal as fastifyRequireAal } from '../src/fastify.js';
import { AUDIENCE, httpServer, ISSUER, jwksServer, makeKey, memoryLogger, token, type TestKey } from './helpers.js';

interface Answer {
  status: number;
  headers: Record<string, string | undefined>;
  body: Record<string, unknown>;
}

describe('the Fastify plugin and the Express middleware', () => {
  let key: TestKey;
  let jwks: Awaited<ReturnType<typeof jwksServer>>;
  let verifier: Verifier;
  let staleVerifier: Verifier;
  const closers: (() => Promise<unknown> | void)[] = [];
  const servers: Record<string, string> = {};

  beforeAll(async () => {
    key = await makeKey('ES256');
    jwks = await jwksServer([key]);
    verifier = createVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl: jwks.jwksUrl, logger: memoryLogger() });
    // A feed that never answers: every good token meets revocation_feed_stale.
    const silent = await httpServer(() => {});
    staleVerifier = createVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      jwksUrl: jwks.jwksUrl,
      feed: { url: silent.url, clientId: 'c', clientSecret: 's' },
      logger: memoryLogger(),
    });
    closers.push(() => verifier.close(), () => staleVerifier.close(), () => silent.close(), () => jwks.close());

    const fastify = Fastify();
    fastify.get('/public', async () => ({ ok: true }));
    await fastify.register(async (scope) => {
      await scope.register(fastifyLatchkey, { verifier });
      scope.get('/me', async (request) => ({ sub: request.latchkey?.sub }));
    });
    await fastify.register(async (scope) => {
      await scope.register(fastifyLatchkey, { verifier, required: false });
      scope.get('/maybe', async (request) => ({ sub: request.latchkey?.sub ?? null }));
    });
    fastify.get('/stale', { onRequest: authenticate({ verifier: staleVerifier }) }, async () => ({ ok: true }));
    await fastify.register(async (scope) => {
      await scope.register(fastifyLatchkey, { verifier, requireAal: 'aal2', required: false });
      scope.get('/strong', async (request) => ({ sub: request.latchkey?.sub, aal: request.latchkey?.aal }));
    });
    await fastify.register(async (scope) => {
      await scope.register(fastifyLatchkey, { verifier });
      scope.get('/strong-route', { preHandler: fastifyRequireAal('aal2') }, async (request) => ({ sub: request.latchkey?.sub }));
    });
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    servers.fastify = `http://127.0.0.1:${(fastify.server.address() as { port: number }).port}`;
    closers.push(() => fastify.close());

    const app = express();
    app.get('/public', (_req, res) => void res.json({ ok: true }));
    app.get('/me', expressLatchkey({ verifier }), (req, res) => void res.json({ sub: req.latchkey?.sub }));
    app.get('/maybe', expressLatchkey({ verifier, required: false }), (req, res) => void res.json({ sub: req.latchkey?.sub ?? null }));
    app.get('/stale', expressLatchkey({ verifier: staleVerifier }), (_req, res) => void res.json({ ok: true }));
    app.get('/strong', expressLatchkey({ verifier, requireAal: 'aal2', required: false }), (req, res) => void res.json({ sub: req.latchkey?.sub, aal: req.latchkey?.aal }));
    app.get('/strong-route', expressLatchkey({ verifier }), expressRequireAal('aal2'), (req, res) => void res.json({ sub: req.latchkey?.sub }));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    servers.express = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    closers.push(() => new Promise((r) => server.close(r)));
  });
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
  });

  for (const framework of ['fastify', 'express'] as const) {
    async function get(path: string, authorization?: string): Promise<Answer> {
      const res = await fetch(`${servers[framework]}${path}`, { headers: authorization ? { authorization } : {} });
      return { status: res.status, headers: Object.fromEntries(res.headers), body: (await res.json()) as Record<string, unknown> };
    }

    describe(framework, () => {
      it('lets a valid token through with its claims', async () => {
        const t = await token(key, { claims: { sub: 'user-9' } });
        expect(await get('/me', `Bearer ${t}`)).toMatchObject({ status: 200, body: { sub: 'user-9' } });
        expect(await get('/me', `bearer   ${t}`)).toMatchObject({ status: 200, body: { sub: 'user-9' } });
        expect(await get('/public')).toMatchObject({ status: 200, body: { ok: true } });
      });

      it("answers a missing token 401 missing_token, in Latchkey's error shape, with a challenge", async () => {
        const answer = await get('/me');
        expect(answer.status).toBe(401);
        expect(answer.body).toEqual({ error: 'missing_token', message: expect.stringContaining('Authorization: Bearer') });
        expect(answer.headers['www-authenticate']).toBe('Bearer realm="latchkey"');
        expect(answer.headers['content-type']).toMatch(/^application\/json/);
      });

      it('answers a bad, malformed or expired token 401 with its code', async () => {
        const bad = await get('/me', 'Bearer not.a.token');
        expect(bad).toMatchObject({ status: 401, body: { error: 'invalid_token', message: 'The access token is invalid.' } });
        expect(bad.headers['www-authenticate']).toMatch(/^Bearer realm="latchkey", error="invalid_token", error_description="/);
        expect(await get('/me', `Basic ${Buffer.from('a:b').toString('base64')}`)).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
        const expired = await token(key, { now: Date.now() - 3600_000 });
        expect(await get('/me', `Bearer ${expired}`)).toMatchObject({ status: 401, body: { error: 'token_expired' } });
      });

      it('with required: false, lets a request without a token through with null, but not a bad token', async () => {
        expect(await get('/maybe')).toMatchObject({ status: 200, body: { sub: null } });
        expect(await get('/maybe', `Bearer ${await token(key)}`)).toMatchObject({ status: 200, body: { sub: 'user-1' } });
        expect(await get('/maybe', 'Bearer junk')).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
      });

      it('with requireAal: aal2 (on the scope, or on one route), lets aal2 through and answers a password-only token 401 insufficient_user_authentication (RFC 9470)', async () => {
        const strong = await token(key, { claims: { sub: 'user-2', amr: ['pwd', 'otp', 'mfa'], aal: 'aal2' } });
        const weak = await token(key, { claims: { sub: 'user-1', amr: ['pwd'], aal: 'aal1' } });
        const older = await token(key, { claims: { sub: 'user-3' } });
        for (const path of ['/strong', '/strong-route']) {
          expect(await get(path, `Bearer ${strong}`)).toMatchObject({ status: 200, body: { sub: 'user-2' } });
          for (const t of [weak, older]) {
            const refused = await get(path, `Bearer ${t}`);
            expect(refused).toMatchObject({ status: 401, body: { error: 'insufficient_user_authentication', message: expect.stringContaining('second factor') } });
            expect(refused.headers['www-authenticate']).toBe('Bearer realm="latchkey", error="insufficient_user_authentication", error_description="aal2 is required"');
          }
          // No token at all: the usual challenge, even with required: false.
          expect(await get(path)).toMatchObject({ status: 401, body: { error: 'missing_token' } });
          expect(await get(path, 'Bearer junk')).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
        }
        expect((await get('/strong', `Bearer ${strong}`)).body.aal).toBe('aal2');
      });

      it('answers 503 revocation_feed_stale when revocations cannot be vouched for', async () => {
        const answer = await get('/stale', `Bearer ${await token(key)}`);
        expect(answer).toMatchObject({ status: 503, body: { error: 'revocation_feed_stale' } });
        expect(answer.headers['www-authenticate']).toBeUndefined();
        expect(answer.headers['retry-after']).toBe('5');
      });
    });
  }
});
