// The seed's split, end to end: Latchkey (a real server process on PostgreSQL) and the app service (a real
// process, its own PostgreSQL database), tied only by webhooks, the JWKS and the revocation feed.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signWebhook } from '../../../packages/verify/src/index.js';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { uniqueEmail, UNTHROTTLED } from '../../../test/helpers/app.js';
import { json, latchkey } from '../../../test/helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/database.js';
import { startServerProcess, type ServerProcess } from '../../../test/helpers/server-process.js';
import { freePort } from '../../../test/helpers/services.js';
import { startSmtpServer, type TestSmtpServer } from '../../../test/helpers/smtp.js';
import { until } from '../../../test/helpers/webhook-receiver.js';
import { accounts, call, registerAppService, startAppService, within, type Json } from './harness.js';
import { startRotationProbe, type RotationProbe } from './rotation-probe.js';
import { describeUnless, NO_POSTGRES } from '../../../test/helpers/skip.js';

const NEW_PASSWORD = 'an entirely new passphrase, 2026';
// Short enough for a new key to start signing during the run (half of it after its publication), and long
// enough for that half to outlast the SDK's JWKS cooldown (30 s): an app that fetched the set just before a
// publication may fetch it again by the new key's first token. With 35 s, an app restarted at that moment
// refused the new key's tokens for the rest of its cooldown.
const KEY_ROTATION_INTERVAL = '64s';

describeUnless(NO_POSTGRES)('the seed’s app service beside Latchkey, on PostgreSQL', () => {
  let dir: string;
  let authDb: TestDatabase;
  let appDb: TestDatabase;
  let smtp: TestSmtpServer;
  let server: ServerProcess;
  let app: ServerProcess;
  let appEnv: Record<string, string>;
  let env: Record<string, string>;
  let auth: pg.Pool;
  let appSql: pg.Pool;
  let probe: RotationProbe;
  let hookId: string;

  const api = (path: string, init: { method?: string; body?: unknown; token?: string } = {}) => call(`${server.url}${path}`, init);
  const onApp = (path: string, token: string, init: { method?: string; body?: unknown } = {}) => call(`${app.url}${path}`, { ...init, token });
  const { signUp, signIn } = accounts(() => server.url);
  const syncedUser = async (id: string) => (await appSql.query('SELECT * FROM users WHERE id = $1', [id])).rows[0];
  const startApp = async () => {
    app = await startAppService(appEnv);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'latchkey-app-service-'));
    [authDb, appDb, smtp] = await Promise.all([createTestDatabase(), createTestDatabase(), startSmtpServer()]);
    const port = String(await freePort());
    env = {
      ...UNTHROTTLED,
      DATABASE_URL: authDb.url!,
      SECRET_KEY: authDb.secretKey,
      DATA_DIR: join(dir, 'latchkey'),
      PORT: port,
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      SMTP_URL: smtp.url,
      KEY_ROTATION_INTERVAL,
    };
    server = await startServerProcess(env);
    await server.ready();
    const registered = await registerAppService(env, server.url);
    hookId = registered.hookId;
    appEnv = { ...registered.env, DATABASE_URL: appDb.url! };
    auth = new pg.Pool({ connectionString: authDb.url, max: 2 });
    appSql = new pg.Pool({ connectionString: appDb.url, max: 2 });
    await startApp();
    const prober = await signUp();
    await until(() => syncedUser(prober.id), Boolean, 5_000);
    probe = startRotationProbe({ latchkeyUrl: server.url, appUrl: () => app.url, tokens: await signIn(prober.email) });
  }, 120_000);

  afterAll(async () => {
    await probe?.stop();
    await Promise.all([app?.stop(), server?.stop()]);
    await Promise.all([auth?.end(), appSql?.end(), smtp?.close()]);
    await Promise.all([authDb?.drop(), appDb?.drop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('a sign-up on Latchkey is in the app’s database within a second; its token works on the app', async () => {
    // From Latchkey's answer to the sign-up (the user is committed) to the row in the app's database.
    const user = await signUp();
    await within(1_000, async () => (await syncedUser(user.id)) !== undefined);
    expect(await syncedUser(user.id)).toMatchObject({ email: user.email, name: 'App User', role: 'user', disabled_at: null });

    const { access_token } = await signIn(user.email);
    const me = await onApp('/me', access_token);
    expect(me.status).toBe(200);
    expect(me.body.user).toMatchObject({ id: user.id, email: user.email });
    const made = await onApp('/items', access_token, { method: 'POST', body: { title: 'first' } });
    expect(made.status).toBe(201);
    expect((await onApp('/items', access_token)).body.items).toEqual([expect.objectContaining({ title: 'first' })]);
    // Another user sees none of them, and cannot delete them.
    const other = await signUp();
    await until(() => syncedUser(other.id), Boolean, 3_000);
    const otherToken = (await signIn(other.email)).access_token;
    expect((await onApp('/items', otherToken)).body.items).toEqual([]);
    expect((await onApp(`/items/${(made.body.item as { id: string }).id}`, otherToken, { method: 'DELETE' })).status).toBe(404);
  });

  it('refuses forged, stale and malformed webhooks, applies a redelivered one once, and answers bad requests with 4xx', async () => {
    const post = (headers: Record<string, string>, body: string) =>
      fetch(`${app.url}/sync_user`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    const user = { id: randomUUID(), email: uniqueEmail('forged'), name: 'Forged', role: 'admin', created_at: new Date().toISOString(), disabled_at: null };
    const body = JSON.stringify({ type: 'user.created', timestamp: new Date().toISOString(), data: user });
    const signed = (id: string, secret: string, timestamp = Math.floor(Date.now() / 1000), text = body) => ({
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signWebhook(secret, id, timestamp, text),
    });
    const answer = async (res: Response) => ({ status: res.status, body: (await res.json().catch(() => null)) as Json });

    const otherSecret = `whsec_${Buffer.from(randomUUID()).toString('base64')}`;
    expect(await answer(await post(signed('evt_forged', otherSecret), body))).toMatchObject({ status: 400, body: { error: 'webhook_invalid_signature' } });
    const stale = signed('evt_stale', appEnv.LATCHKEY_WEBHOOK_SECRET!, Math.floor(Date.now() / 1000) - 3_600);
    expect(await answer(await post(stale, body))).toMatchObject({ status: 400, body: { error: 'webhook_timestamp_out_of_range' } });
    // Signed, then changed on the way.
    const tampered = body.replace('"role":"admin"', '"role":"owner"');
    expect((await post(signed('evt_tampered', appEnv.LATCHKEY_WEBHOOK_SECRET!), tampered)).status).toBe(400);
    expect((await post({}, body)).status).toBe(400);
    expect(await syncedUser(user.id)).toBeUndefined();

    // The same webhook-id twice (Latchkey sends at least once): applied once.
    const secret = appEnv.LATCHKEY_WEBHOOK_SECRET!;
    const once = signed('evt_900000010', secret);
    expect((await post(once, body)).status).toBe(204);
    expect((await post(once, body)).status).toBe(204);
    expect((await appSql.query("SELECT 1 FROM applied_webhooks WHERE webhook_id = 'evt_900000010'")).rowCount).toBe(1);
    expect(await syncedUser(user.id)).toMatchObject({ email: user.email });

    // An operator's replay of an old dead delivery, after newer events: it changes nothing.
    const event = (id: string, type: string, name: string) => {
      const text = JSON.stringify({ type, timestamp: new Date().toISOString(), data: { ...user, name } });
      return post(signed(id, secret, undefined, text), text);
    };
    expect((await event('evt_900000030', 'user.updated', 'Newer')).status).toBe(204);
    expect((await event('evt_900000020', 'user.updated', 'Older')).status).toBe(204);
    expect(await syncedUser(user.id)).toMatchObject({ name: 'Newer' });
    expect((await event('evt_900000040', 'user.deleted', 'Newer')).status).toBe(204);
    expect((await event('evt_900000025', 'user.updated', 'Revived')).status).toBe(204);
    expect(await syncedUser(user.id)).toBeUndefined();

    // Tokens and bodies a client gets wrong.
    expect(await answer(await fetch(`${app.url}/me`))).toMatchObject({ status: 401, body: { error: 'missing_token' } });
    expect((await onApp('/me', 'not.a.token')).body).toMatchObject({ error: 'invalid_token' });
    const real = await signUp();
    await until(() => syncedUser(real.id), Boolean, 3_000);
    const { access_token } = await signIn(real.email);
    const [header, payload] = access_token.split('.');
    expect((await onApp('/me', `${header}.${payload}.${'A'.repeat(86)}`)).body).toMatchObject({ error: 'invalid_token' });
    for (const bad of [{}, { title: '' }, { title: 'x'.repeat(201) }, { title: 'ok', extra: 1 }, { title: 7 }])
      expect(await onApp('/items', access_token, { method: 'POST', body: bad })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect((await onApp('/items/not-a-number', access_token, { method: 'DELETE' })).status).toBe(400);
    expect((await onApp('/items/99999999', access_token, { method: 'DELETE' })).status).toBe(404);
    const notJson = await fetch(`${app.url}/items`, { method: 'POST', headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' }, body: '{"title":' });
    expect(notJson.status).toBe(400);
  });

  it('a logout on Latchkey: the app refuses its access token within a second', async () => {
    const user = await signUp();
    const { access_token } = await signIn(user.email);
    await until(() => syncedUser(user.id), Boolean, 3_000);
    expect((await onApp('/me', access_token)).status).toBe(200);
    expect((await api('/api/logout', { method: 'POST', token: access_token })).status).toBe(200);
    await within(1_000, async () => (await onApp('/me', access_token)).status === 401);
    expect((await onApp('/me', access_token)).body).toMatchObject({ error: 'session_revoked' });
  });

  it('a password reset: the app refuses every token issued before it, and accepts the new password’s', async () => {
    const user = await signUp();
    const older = [(await signIn(user.email)).access_token, (await signIn(user.email)).access_token];
    await until(() => syncedUser(user.id), Boolean, 3_000);
    for (const token of older) expect((await onApp('/me', token)).status).toBe(200);

    expect((await api('/api/forgot-password', { body: { email: user.email } })).status).toBe(200);
    const mail = await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'Reset your password', 10_000);
    const token = /\/reset-password\/([A-Za-z0-9_-]+)/.exec(mail.text)![1]!;
    expect((await api(`/api/reset-password/${token}`, { body: { password: NEW_PASSWORD } })).status).toBe(200);
    await within(1_000, async () => {
      const answers = await Promise.all(older.map((t) => onApp('/me', t)));
      return answers.every((a) => a.status === 401 && a.body.error === 'session_revoked');
    });
    expect((await onApp('/me', (await signIn(user.email, NEW_PASSWORD)).access_token)).status).toBe(200);
    await until(() => appSql.query("SELECT 1 FROM applied_webhooks WHERE user_id = $1 AND type = 'user.password_changed'", [user.id]), (r) => r.rowCount === 1, 3_000);
  });

  it('deleting the user on Latchkey removes the app’s copy and its items', async () => {
    const user = await signUp();
    await until(() => syncedUser(user.id), Boolean, 3_000);
    const { access_token } = await signIn(user.email);
    expect((await onApp('/items', access_token, { method: 'POST', body: { title: 'doomed' } })).status).toBe(201);
    json(await latchkey(env, ['users', 'delete', user.email, '--yes', '--json']));
    await until(() => syncedUser(user.id), (row) => row === undefined, 3_000);
    expect((await appSql.query('SELECT 1 FROM items WHERE user_id = $1', [user.id])).rowCount).toBe(0);
    // Its sessions ended with it: the revocation feed told the app.
    await until(() => onApp('/me', access_token), (r) => r.status === 401, 3_000);
    expect((await onApp('/me', access_token)).body).toMatchObject({ error: 'session_revoked' });
  });

  it('the app stopped for 30 s, then restarted, gets every event it missed, in order, each applied once', async () => {
    probe.pause();
    expect(await app.stop()).toBe(0);
    const stoppedAt = Date.now();
    const [kept, gone] = [await signUp(), await signUp()];
    json(await latchkey(env, ['users', 'disable', kept.email, '--json']));
    json(await latchkey(env, ['users', 'enable', kept.email, '--json']));
    json(await latchkey(env, ['users', 'delete', gone.email, '--yes', '--json']));
    await new Promise((r) => setTimeout(r, Math.max(0, 30_000 - (Date.now() - stoppedAt))));
    await startApp();
    probe.resume();

    // Every event Latchkey recorded for this endpoint, as the database has them, in their order.
    const sent = async () =>
      (
        await auth.query<{ id: string; type: string; user_id: string; status: string }>(
          `SELECT 'evt_' || e.id AS id, e.type, e.user_id, d.status FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
           WHERE d.endpoint_id = $1 ORDER BY e.id`,
          [hookId],
        )
      ).rows;
    const applied = async () =>
      (await appSql.query<{ id: string; type: string; user_id: string }>('SELECT webhook_id AS id, type, user_id FROM applied_webhooks ORDER BY seq')).rows;
    // Latchkey retries with backoff (1 s, doubling): the next try after the restart comes within about 30 s.
    await until(sent, (rows) => rows.every((r) => r.status === 'delivered'), 75_000);
    const [expected, got] = [await sent(), await applied()];
    expect(got.map((r) => r.id)).toHaveLength(new Set(got.map((r) => r.id)).size);
    // Every event Latchkey sent is applied (besides those the webhook test above signed itself).
    expect(got.map((r) => r.id)).toEqual(expect.arrayContaining(expected.map((r) => r.id)));
    for (const user of [kept, gone]) {
      const order = (rows: { id: string; user_id: string }[]) => rows.filter((r) => r.user_id === user.id).map((r) => r.id);
      expect(order(got), user.email).toEqual(order(expected));
    }
    expect(expected.filter((r) => r.user_id === kept.id).map((r) => r.type)).toEqual(['user.created', 'user.disabled', 'user.updated']);
    expect(await syncedUser(kept.id)).toMatchObject({ email: kept.email, disabled_at: null });
    expect(await syncedUser(gone.id)).toBeUndefined();
  }, 150_000);

  it('key rotations during the run: tokens of every key verified on the app, none refused', async () => {
    // A new key signs half KEY_ROTATION_INTERVAL after its publication; wait for one if none came yet.
    await until(() => probe.keys().size, (n) => n >= 2, 100_000);
    const summary = await probe.stop();
    expect(summary.failures).toEqual([]);
    expect(summary.keys.size).toBeGreaterThanOrEqual(2);
    expect(summary.verified).toBeGreaterThan(10);
  }, 120_000);
});
