import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { eq } from 'drizzle-orm';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { runOperation } from '../../src/control/operations.js';
import { webhookDeliveries, webhookEndpoints } from '../../src/db/schema.js';
import { PUBLIC_URL, bearer, signIn, signUp, startTestApp, type TestApp } from '../helpers/app.js';
import { startWebhookReceiver } from '../helpers/webhook-receiver.js';

interface Received {
  id: string;
  timestamp: string;
  signature: string;
  contentType: string;
  body: string;
}

/** A real HTTP receiver; `answer` decides each response's status (called with the request's webhook-id). */
async function startReceiver(answer: (id: string, n: number, body: string) => number = () => 204) {
  const received: Received[] = [];
  /** Every attempt, in the order they arrived, with the status answered. */
  const log: { id: string; type: string; status: number }[] = [];
  const attempts = new Map<string, number>();
  let concurrent = new Map<string, number>();
  let maxConcurrent = 0;
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const id = String(req.headers['webhook-id']);
      const n = (attempts.get(id) ?? 0) + 1;
      attempts.set(id, n);
      concurrent.set(id, (concurrent.get(id) ?? 0) + 1);
      maxConcurrent = Math.max(maxConcurrent, concurrent.get(id)!);
      const status = answer(id, n, body);
      log.push({ id, type: /"type":"([a-z._]+)"/.exec(body)?.[1] ?? 'form', status });
      setTimeout(() => {
        concurrent.set(id, concurrent.get(id)! - 1);
        if (status < 300) received.push({ id, timestamp: String(req.headers['webhook-timestamp']), signature: String(req.headers['webhook-signature']), contentType: String(req.headers['content-type']), body });
        res.writeHead(status).end();
      }, 20);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    log,
    attempts,
    maxConcurrent: () => maxConcurrent,
    reset() {
      received.length = 0;
      attempts.clear();
      concurrent = new Map();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Standard Webhooks verification, written from the specification. */
function verify(secret: string, r: Received): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${r.id}.${r.timestamp}.${r.body}`).digest();
  return r.signature.split(' ').some((s) => {
    const [version, sig] = s.split(',');
    const got = Buffer.from(sig ?? '', 'base64');
    return version === 'v1' && got.length === expected.length && timingSafeEqual(got, expected);
  });
}

async function until<T>(fn: () => T | Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

let t: TestApp;
let listening: Promise<string> | undefined;
/** The app's address, listening from the first call on. */
const baseUrl = () => (listening ??= t.listen());
beforeAll(async () => {
  t = await startTestApp({ realClock: systemClock, env: { WEBHOOK_RETRY_FOR: '3s' } });
});
afterAll(() => t.close());

const add = (args: Record<string, unknown>) => runOperation(t.deps as never, 'webhooks.add', args, { actor: 'test' }) as Promise<{ id: string; secret: string }>;
const remove = (id: string) => runOperation(t.deps as never, 'webhooks.remove', { id }, { actor: 'test' });

describe('webhook endpoints', () => {
  it('refuses bad URLs and unknown events, and never stores the secret in clear', async () => {
    await expect(add({ url: 'ftp://example.com/x', events: ['user.created'] })).rejects.toMatchObject({ code: 'invalid_arguments' });
    await expect(add({ url: 'not a url', events: ['user.created'] })).rejects.toMatchObject({ code: 'invalid_arguments' });
    await expect(add({ url: 'https://example.com/x', events: ['user.exploded'] })).rejects.toMatchObject({ code: 'invalid_arguments' });
    await expect(add({ url: 'https://example.com/x', events: [] })).rejects.toMatchObject({ code: 'invalid_arguments' });
    const created = await add({ url: 'https://example.com/x', events: ['user.created'] });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(created.secret.slice(6), 'base64')).toHaveLength(32);
    const rows = await t.deps.db.select().from(webhookEndpoints);
    const raw = created.secret.slice(6);
    expect(JSON.stringify(rows)).not.toContain(raw);
    expect(JSON.stringify(await runOperation(t.deps as never, 'webhooks.list', {}, { actor: 'test' }))).not.toContain(raw);
    await remove(created.id);
  });
});

describe('delivery', () => {
  it('signs each delivery verifiably, and keeps a user\'s events in order when the first attempt fails', async () => {
    // Every user.created fails at its first attempt, from the start: this user's logout must wait behind it.
    const receiver = await startReceiver((_id, n, body) => (n === 1 && body.includes('"type":"user.created"') ? 500 : 204));
    const hook = await add({ url: receiver.url, events: ['user.created', 'session.revoked'] });
    try {
      const user = await signUp(t);
      const tokens = await signIn(t, user.email);
      await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(tokens.access_token) });
      const got = await until(() => receiver.received.filter((r) => JSON.parse(r.body).data.email === user.email || JSON.parse(r.body).data.sub === user.id), (r) => r.length >= 2);
      expect(got.map((r) => JSON.parse(r.body).type)).toEqual(['user.created', 'session.revoked']);
      // The user.created was refused once, then retried; the logout was first attempted only after it went through.
      const createdId = got[0]!.id;
      const revokedId = got[1]!.id;
      expect(receiver.attempts.get(createdId)).toBe(2);
      const firstRevokedAttempt = receiver.log.findIndex((a) => a.id === revokedId);
      const createdSuccess = receiver.log.findIndex((a) => a.id === createdId && a.status < 300);
      expect(receiver.log.findIndex((a) => a.id === createdId)).toBeLessThan(createdSuccess);
      expect(firstRevokedAttempt).toBeGreaterThan(createdSuccess);
      for (const r of got) {
        expect(verify(hook.secret, r)).toBe(true);
        expect(r.contentType).toBe('application/json');
        expect(JSON.parse(r.body)).toMatchObject({ timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
      }
      expect(verify(hook.secret, { ...got[0]!, body: got[0]!.body.replace('user', 'User') })).toBe(false);
    } finally {
      await remove(hook.id);
      await receiver.close();
    }
  });

  it('marks a delivery dead after WEBHOOK_RETRY_FOR, and replays it', async () => {
    let up = false;
    const receiver = await startReceiver(() => (up ? 204 : 503));
    const hook = await add({ url: receiver.url, events: ['user.created'] });
    try {
      await signUp(t);
      const dead = await until(() => runOperation(t.deps as never, 'webhooks.deliveries', { status: 'dead' }, { actor: 'test' }) as Promise<{ id: number; attempts: number; last_error: string }[]>, (r) => r.length > 0);
      expect(dead).toHaveLength(1);
      expect(dead[0]!.attempts).toBeGreaterThan(1);
      expect(dead[0]!.last_error).toContain('503');
      up = true;
      await runOperation(t.deps as never, 'webhooks.replay', { id: dead[0]!.id }, { actor: 'test' });
      await until(() => receiver.received, (r) => r.length === 1);
      expect(receiver.received).toHaveLength(1);
    } finally {
      await remove(hook.id);
      await receiver.close();
    }
  });

  it('posts nothing more to a removed endpoint: its deliveries go with it, pending or in flight', async () => {
    // Three receivers that are down (503): `waiting` answers at once, so its delivery waits for a retry;
    // `slow` holds its answer 800 ms, so that it is removed with an attempt in flight; `kept` is not removed,
    // and shows that retries do come meanwhile.
    const waiting = await startWebhookReceiver({ answer: () => 503 });
    const slow = await startWebhookReceiver({ answer: () => 503, delayMs: 800 });
    const kept = await startWebhookReceiver({ answer: () => 503 });
    const [waitingHook, slowHook, keptHook] = await Promise.all([waiting, slow, kept].map((r) => add({ url: r.url, events: ['user.created'] })));
    const deliveriesOf = (id: string) => t.deps.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, id));
    const attempts = (r: { requests: Map<string, number> }) => [...r.requests.values()].reduce((a, b) => a + b, 0);
    try {
      await signUp(t);
      await until(() => [waiting, slow, kept].map(attempts), (n) => n.every((x) => x >= 1));
      expect((await deliveriesOf(waitingHook!.id)).map((d) => d.status)).toEqual(['pending']);
      await remove(waitingHook!.id);
      await remove(slowHook!.id);
      expect(await deliveriesOf(waitingHook!.id)).toEqual([]);
      expect(await deliveriesOf(slowHook!.id)).toEqual([]);
      // Retries come after 1 s, then 2 s: `kept` is tried again within this time, the removed ones never.
      await new Promise((r) => setTimeout(r, 2_500));
      expect(attempts(kept)).toBeGreaterThanOrEqual(2);
      expect(attempts(waiting)).toBe(1);
      expect(attempts(slow)).toBe(1);
      expect(await deliveriesOf(slowHook!.id)).toEqual([]);
    } finally {
      await remove(keptHook!.id);
      await Promise.all([waiting, slow, kept].map((r) => r.stop()));
    }
  }, 30_000);

  it('sends back-channel logout tokens that verify against the JWKS', async () => {
    const receiver = await startReceiver();
    const hook = await add({ url: receiver.url, events: [], backchannelAudience: 'client-a' });
    const base = await baseUrl();
    try {
      const user = await signUp(t);
      const tokens = await signIn(t, user.email);
      await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(tokens.access_token) });
      const [r] = await until(() => receiver.received, (x) => x.length >= 1);
      expect(r!.contentType).toBe('application/x-www-form-urlencoded');
      const token = new URLSearchParams(r!.body).get('logout_token')!;
      expect(decodeProtectedHeader(token).typ).toBe('logout+jwt');
      const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`)), { issuer: PUBLIC_URL, audience: 'client-a', typ: 'logout+jwt' });
      expect(payload).toMatchObject({ sub: user.id, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } });
      expect(payload.sid).toEqual(expect.any(String));
      expect(payload.jti).toEqual(expect.any(String));
      expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(120);
      expect(payload).not.toHaveProperty('nonce');
    } finally {
      await remove(hook.id);
      await receiver.close();
    }
  });
});

describe('back-channel logout tokens, to a relying party that checks access tokens', () => {
  it('never verify as an access token, even for an endpoint stored with the access audience', async () => {
    const access = t.deps.config.jwt.audience;
    const honest = await startReceiver();
    const planted = await startReceiver();
    const honestHook = await add({ url: honest.url, events: [], backchannelAudience: 'client-a' });
    // Registered before audiences were checked (or written into the database): its aud is the access audience.
    const plantedHook = await add({ url: planted.url, events: [], backchannelAudience: 'client-b' });
    await t.deps.db.update(webhookEndpoints).set({ backchannelAudience: access }).where(eq(webhookEndpoints.id, plantedHook.id));
    const base = await baseUrl();
    const jwks = createRemoteJWKSet(new URL(`${base}/.well-known/jwks.json`));
    try {
      const user = await signUp(t);
      const tokens = await signIn(t, user.email);
      // What a relying party does with an access token: issuer, audience and signature.
      await expect(jwtVerify(tokens.access_token, jwks, { issuer: PUBLIC_URL, audience: access })).resolves.toBeTruthy();
      await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(tokens.access_token) });
      await until(() => honest.received, (x) => x.length >= 1);
      const failed = await until(
        () => t.deps.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, plantedHook.id)),
        (rows) => rows.some((r) => r.lastError !== null),
      );
      expect(failed[0]!.lastError).toMatch(/audience/i);
      expect(failed[0]!.status).not.toBe('delivered');
      expect(planted.received).toEqual([]);
      const logoutTokens = [...honest.received, ...planted.received].map((r) => new URLSearchParams(r.body).get('logout_token')!);
      expect(logoutTokens.length).toBeGreaterThan(0);
      for (const token of logoutTokens) {
        await expect(jwtVerify(token, jwks, { issuer: PUBLIC_URL, audience: access })).rejects.toMatchObject({ code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });
      }
    } finally {
      await remove(honestHook.id);
      await remove(plantedHook.id);
      await Promise.all([honest.close(), planted.close()]);
    }
  }, 30_000);
});
