import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { eq } from 'drizzle-orm';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAuthorizationRequest, issueAuthorizationCode, type AuthorizationRequest } from '../../src/auth/oauth/authorization.js';
import { createOAuthClient, findOAuthClient, removeOAuthClient } from '../../src/auth/oauth/clients.js';
import { exchangeCode } from '../../src/auth/oauth/grants.js';
import { revokeSession } from '../../src/auth/sessions/sessions.js';
import { disableUser } from '../../src/auth/users/user-admin.js';
import { systemClock } from '../../src/core/clock.js';
import { announceEvents } from '../../src/core/events.js';
import { runOperation } from '../../src/control/operations.js';
import { events, users, webhookDeliveries, webhookEndpoints } from '../../src/db/schema.js';
import { PUBLIC_URL, bearer, signIn, signUp, startTestApp, type TestApp } from '../helpers/app.js';
import { until } from '../helpers/webhook-receiver.js';

const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const REDIRECT = 'http://127.0.0.1/callback';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A relying party's back-channel logout URI on loopback: records every request; `answer` picks each status. */
async function startReceiver(answer: (n: number) => number = () => 200) {
  const received: Received[] = [];
  let requests = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      requests += 1;
      const status = answer(requests);
      if (status < 300) received.push({ headers: req.headers, body });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/backchannel`,
    received,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let t: TestApp;
let jwks: ReturnType<typeof createRemoteJWKSet>;
beforeAll(async () => {
  // ::1 denied besides the defaults, so that a URI there shows WEBHOOK_DENY_NETWORKS applies; receivers are on 127.0.0.1.
  t = await startTestApp({ realClock: systemClock, env: { WEBHOOK_RETRY_FOR: '3s', WEBHOOK_DENY_NETWORKS: '169.254.0.0/16,::1' } });
  jwks = createRemoteJWKSet(new URL(`${await t.listen()}/.well-known/jwks.json`));
});
afterAll(() => t.close());

let names = 0;
const newClient = (backchannelLogoutUri: string | null) =>
  createOAuthClient(t.deps, { name: `app-${++names}-${randomBytes(3).toString('hex')}`, redirectUris: [REDIRECT], backchannelLogoutUri, public: true, firstParty: true }, 'test');

/** A user signed in (the session an authorization is given from, as the hosted pages' is): the user, the session's id. */
async function browserSession(email?: string) {
  const tokens = await signIn(t, email ?? (await signUp(t)).email);
  const claims = decodeJwt(tokens.access_token) as { sub: string; sid: string; auth_time: number };
  return { userId: claims.sub, sid: claims.sid, accessToken: tokens.access_token, authTime: claims.auth_time };
}

/**
 * What the authorization and token endpoints do for a client, through the domain: a code issued from the browser
 * session, exchanged with its PKCE verifier. The client's session id and the ID token's claims.
 */
async function authorise(clientId: string, browser: { userId: string; sid: string; authTime: number }) {
  const verifier = randomBytes(32).toString('base64url');
  const request = (await checkAuthorizationRequest(t.deps, {
    client_id: clientId,
    redirect_uri: REDIRECT,
    response_type: 'code',
    state: 'state',
    scope: 'openid',
    nonce: 'the-nonce',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  })) as AuthorizationRequest;
  expect(request.client?.clientId).toBe(clientId);
  const [user] = await t.deps.db.select().from(users).where(eq(users.id, browser.userId));
  const code = issueAuthorizationCode(t.deps, request, { user: user!, sessionId: browser.sid, authTime: browser.authTime, amr: ['pwd'] });
  const client = await findOAuthClient(t.deps.db, clientId);
  const answer = await exchangeCode(t.deps, client, { code, redirect_uri: REDIRECT, code_verifier: verifier }, {});
  const idToken = decodeJwt(answer.id_token!);
  expect(idToken).toMatchObject({ sub: browser.userId, aud: clientId, sid: browser.sid, nonce: 'the-nonce' });
  const sessionId = (decodeJwt(answer.access_token) as { sid: string }).sid;
  return { sessionId, idToken, code, verifier };
}

/** The logout tokens a receiver got, verified as a relying party verifies them (OpenID Back-Channel Logout §2.6). */
async function logoutTokens(receiver: { received: Received[] }, audience: string): Promise<JWTPayload[]> {
  const out: JWTPayload[] = [];
  for (const r of receiver.received) {
    expect(r.headers['content-type']).toBe('application/x-www-form-urlencoded');
    // The token is all it is sent: no Standard Webhooks headers, signed with a secret nobody holds.
    expect(Object.keys(r.headers).filter((h) => h.startsWith('webhook-'))).toEqual([]);
    const params = new URLSearchParams(r.body);
    expect([...params.keys()]).toEqual(['logout_token']);
    const token = params.get('logout_token')!;
    expect(decodeProtectedHeader(token).typ).toBe('logout+jwt');
    const { payload } = await jwtVerify(token, jwks, { issuer: PUBLIC_URL, audience, typ: 'logout+jwt', maxTokenAge: 120 });
    expect(payload).not.toHaveProperty('nonce');
    expect(payload.events).toEqual({ [BACKCHANNEL_EVENT]: {} });
    expect(payload.jti).toEqual(expect.any(String));
    out.push(payload);
  }
  return out;
}

const endpointOf = async (clientId: string) => (await t.deps.db.select().from(webhookEndpoints).where(eq(webhookEndpoints.oauthClientId, clientId)))[0];
type EventData = Record<string, unknown>;
const deliveriesTo = async (endpointId: string) =>
  (
    await t.deps.db.select({ status: webhookDeliveries.status, data: events.data }).from(webhookDeliveries).innerJoin(events, eq(events.id, webhookDeliveries.eventId)).where(eq(webhookDeliveries.endpointId, endpointId))
  ).map((d) => ({ status: d.status, data: d.data as EventData }));
const revokedEvents = async () => (await t.deps.db.select().from(events).where(eq(events.type, 'session.revoked'))).map((e) => e.data as EventData);

describe('a client that registered a backchannel_logout_uri', () => {
  it('is told, with the sid of its ID token, when the browser session that authorised it signs out', async () => {
    const receiver = await startReceiver();
    const client = await newClient(receiver.url);
    try {
      const browser = await browserSession();
      const { sessionId, idToken } = await authorise(client.client_id, browser);
      expect(sessionId).not.toBe(browser.sid);
      const logout = await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(browser.accessToken) });
      expect(logout.statusCode).toBe(200);
      await until(() => receiver.received, (r) => r.length >= 1);
      const [payload, ...more] = await logoutTokens(receiver, client.client_id);
      expect(more).toEqual([]);
      expect(payload).toMatchObject({ iss: PUBLIC_URL, aud: client.client_id, sub: browser.userId, sid: idToken.sid });
      // One delivery, the client's session's end (not the browser session's own), delivered.
      const endpoint = (await endpointOf(client.client_id))!;
      const rows = await until(() => deliveriesTo(endpoint.id), (rs) => rs.every((d) => d.status === 'delivered'));
      expect(rows).toEqual([{ status: 'delivered', data: { sid: sessionId, sub: browser.userId, reason: 'logout', client_id: client.client_id, parent_sid: browser.sid } }]);
    } finally {
      await receiver.close();
    }
  });

  it('is told of its own sessions only: two clients of one browser session each hear of theirs, and a plain sign-out tells none', async () => {
    const [a, b] = [await startReceiver(), await startReceiver()];
    const [clientA, clientB] = [await newClient(a.url), await newClient(b.url)];
    try {
      const [endpointA, endpointB] = [(await endpointOf(clientA.client_id))!, (await endpointOf(clientB.client_id))!];
      // `plain`: a session of Latchkey's own, with no client behind it, of a user whose other session has clients.
      const user = await signUp(t);
      const browser = await browserSession(user.email);
      const plain = await browserSession(user.email);
      const onlyB = await browserSession();
      const sessionA = await authorise(clientA.client_id, browser);
      const sessionB = await authorise(clientB.client_id, browser);
      const otherB = await authorise(clientB.client_id, onlyB);

      // Ended by an operator: client B's session of another user. Client A hears nothing of it.
      await revokeSession(t.deps, otherB.sessionId, 'operator');
      await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(plain.accessToken) });
      // Deliveries are made in the revoking transaction: none for A, one for B.
      expect(await deliveriesTo(endpointA.id)).toEqual([]);
      expect((await deliveriesTo(endpointB.id)).map((d) => d.data.sid)).toEqual([otherB.sessionId]);

      await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(browser.accessToken) });
      expect((await deliveriesTo(endpointA.id)).map((d) => d.data.sid)).toEqual([sessionA.sessionId]);
      expect((await deliveriesTo(endpointB.id)).map((d) => d.data.sid).sort()).toEqual([otherB.sessionId, sessionB.sessionId].sort());

      await until(() => [a.received.length, b.received.length], ([na, nb]) => na! >= 1 && nb! >= 2);
      const toA = await logoutTokens(a, clientA.client_id);
      expect(toA.map((p) => [p.sub, p.sid])).toEqual([[browser.userId, browser.sid]]);
      const toB = await logoutTokens(b, clientB.client_id);
      expect(toB.map((p) => [p.sub, p.sid]).sort()).toEqual([[browser.userId, browser.sid], [onlyB.userId, onlyB.sid]].sort());
      // Never the plain session.
      expect([...toA, ...toB].map((p) => p.sid)).not.toContain(plain.sid);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('is told whatever ends its session: the user disabled, its code presented again', async () => {
    const receiver = await startReceiver();
    const client = await newClient(receiver.url);
    try {
      const disabled = await browserSession();
      await authorise(client.client_id, disabled);
      await disableUser(t.deps, disabled.userId, 'test');
      const reused = await browserSession();
      const first = await authorise(client.client_id, reused);
      // The same code again: the session its first exchange opened ends (RFC 6749 §4.1.2).
      await expect(exchangeCode(t.deps, await findOAuthClient(t.deps.db, client.client_id), { code: first.code, redirect_uri: REDIRECT, code_verifier: first.verifier }, {})).rejects.toMatchObject({
        code: 'invalid_grant',
      });
      await until(() => receiver.received, (r) => r.length >= 2);
      const got = await logoutTokens(receiver, client.client_id);
      expect(got.map((p) => [p.sub, p.sid]).sort()).toEqual([[disabled.userId, disabled.sid], [reused.userId, reused.sid]].sort());
      const endpoint = (await endpointOf(client.client_id))!;
      expect((await deliveriesTo(endpoint.id)).map((d) => d.data.reason).sort()).toEqual(['account_disabled', 'authorization_code_reused']);
    } finally {
      await receiver.close();
    }
  });

  it('is retried when its receiver fails, as a webhook is', async () => {
    // The first attempt is refused; the retry (after about a second) is taken.
    const receiver = await startReceiver((n) => (n === 1 ? 503 : 200));
    const client = await newClient(receiver.url);
    try {
      const browser = await browserSession();
      await authorise(client.client_id, browser);
      await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(browser.accessToken) });
      await until(() => receiver.received, (r) => r.length >= 1);
      expect(receiver.requests()).toBe(2);
      expect((await logoutTokens(receiver, client.client_id)).map((p) => p.sid)).toEqual([browser.sid]);
    } finally {
      await receiver.close();
    }
  }, 30_000);

  it('is never posted to where WEBHOOK_DENY_NETWORKS forbids: the delivery fails, then is dead', async () => {
    const client = await newClient('http://[::1]:9/backchannel');
    const browser = await browserSession();
    await authorise(client.client_id, browser);
    await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(browser.accessToken) });
    const endpoint = (await endpointOf(client.client_id))!;
    const rows = await until(
      () => t.deps.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, endpoint.id)),
      (rs) => rs.length === 1 && rs[0]!.status === 'dead',
    );
    expect(rows[0]!.lastError).toMatch(/WEBHOOK_DENY_NETWORKS/);
    expect(rows[0]!.lastStatus).toBeNull();
  }, 30_000);
});

describe('a delivery to a client that is not of its own sessions', () => {
  it('is never sent, even when written into the queue by hand', async () => {
    const [a, b] = [await startReceiver(), await startReceiver()];
    const [clientA, clientB] = [await newClient(a.url), await newClient(b.url)];
    try {
      const browser = await browserSession();
      await authorise(clientB.client_id, browser);
      await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(browser.accessToken) });
      await until(() => b.received, (r) => r.length >= 1);
      // B's session's end, queued for A as a bug or a hand in the database might.
      const endpointA = (await endpointOf(clientA.client_id))!;
      const [eventB] = (await t.deps.db.select().from(events).where(eq(events.type, 'session.revoked'))).filter((e) => (e.data as EventData).client_id === clientB.client_id);
      const now = new Date();
      await t.deps.db.insert(webhookDeliveries).values({ endpointId: endpointA.id, eventId: eventB!.id, userId: eventB!.userId, createdAt: now, nextAttemptAt: now });
      await announceEvents(t.deps.db);
      const [row] = await until(
        () => t.deps.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, endpointA.id)),
        (rs) => rs[0]?.lastError !== null && rs[0]?.lastError !== undefined,
      );
      expect(row!.lastError).toMatch(/not a session of this endpoint's client/);
      expect(row!.status).not.toBe('delivered');
      expect(a.requests()).toBe(0);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('the endpoint of a client', () => {
  it('is made with the client, hidden from the webhooks, and goes with the client, which is not told of its removal', async () => {
    const receiver = await startReceiver();
    const client = await newClient(receiver.url);
    const endpoint = (await endpointOf(client.client_id))!;
    expect(endpoint).toMatchObject({ url: receiver.url, eventTypes: ['session.revoked'], backchannelAudience: client.client_id, secretSealed: null });
    // Not among the operator's webhooks, and not removable as one.
    const listed = (await runOperation(t.deps as never, 'webhooks.list', {}, { actor: 'test' })) as { id: string }[];
    expect(listed.map((w) => w.id)).not.toContain(endpoint.id);
    await expect(runOperation(t.deps as never, 'webhooks.remove', { id: endpoint.id }, { actor: 'test' })).rejects.toMatchObject({ code: 'webhook_not_found' });

    const browser = await browserSession();
    const { sessionId } = await authorise(client.client_id, browser);
    const before = await t.deps.db.select().from(webhookDeliveries);
    await removeOAuthClient(t.deps, client.client_id, 'test');
    expect(await endpointOf(client.client_id)).toBeUndefined();
    // Its session ended with it (the event is there, for the operator's webhooks), and nothing was queued for it.
    expect((await revokedEvents()).map((e) => e.sid)).toContain(sessionId);
    expect((await t.deps.db.select().from(webhookDeliveries)).length).toBe(before.length);
    await receiver.close();
    expect(receiver.received).toEqual([]);
  });

  it('is not made for a client without a backchannel_logout_uri, whose sessions\' ends go to no client', async () => {
    const client = await newClient(null);
    expect(await endpointOf(client.client_id)).toBeUndefined();
    const browser = await browserSession();
    const { sessionId } = await authorise(client.client_id, browser);
    const before = (await t.deps.db.select().from(webhookDeliveries)).length;
    await t.inject({ method: 'POST', url: '/api/logout', headers: bearer(browser.accessToken) });
    const event = (await revokedEvents()).find((e) => e.sid === sessionId);
    expect(event).toMatchObject({ client_id: client.client_id, parent_sid: browser.sid });
    expect((await t.deps.db.select().from(webhookDeliveries)).length).toBe(before);
  });

  it('refuses a backchannel_logout_uri that is not http(s), or is http off loopback', async () => {
    for (const uri of ['ftp://example.com/x', 'http://example.com/logout', 'https://example.com/a#frag', 'com.example.app:/logout']) {
      await expect(newClient(uri)).rejects.toMatchObject({ code: 'invalid_request' });
    }
  });
});

describe('discovery', () => {
  it('announces back-channel logout, with sid', async () => {
    const res = await t.inject({ method: 'GET', url: '/.well-known/openid-configuration' });
    expect(res.json()).toMatchObject({ backchannel_logout_supported: true, backchannel_logout_session_supported: true });
  });
});
