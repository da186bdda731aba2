// The walk-through as a newcomer runs it: Latchkey and the app service each on their embedded database,
// no PostgreSQL anywhere. (The PostgreSQL pass runs e2e.test.ts, which goes further.)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Secret, TOTP } from 'otpauth';
import { GOOD_PASSWORD, UNTHROTTLED } from '../../../test/helpers/app.js';
import { json, latchkey } from '../../../test/helpers/cli.js';
import { startServerProcess, type ServerProcess } from '../../../test/helpers/server-process.js';
import { freePort } from '../../../test/helpers/services.js';
import { until } from '../../../test/helpers/webhook-receiver.js';
import { accounts, call, registerAppService, startAppService } from './harness.js';
import { describeUnless, ON_POSTGRES } from '../../../test/helpers/skip.js';

describeUnless(ON_POSTGRES)('the app service and Latchkey, both on their embedded databases', () => {
  let dir: string;
  let server: ServerProcess;
  let app: ServerProcess;
  let appEnv: Record<string, string>;
  let env: Record<string, string>;
  let hookId: string;
  const { signUp, signIn } = accounts(() => server.url);
  const me = (token: string) => call(`${app.url}/me`, { token });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'latchkey-app-embedded-'));
    const port = String(await freePort());
    // A delivery the app cannot take for 3 s is dead: one test makes one so (the app stopped), then replays it.
    env = { ...UNTHROTTLED, DATA_DIR: join(dir, 'latchkey'), PORT: port, PUBLIC_URL: `http://127.0.0.1:${port}`, WEBHOOK_RETRY_FOR: '3s' };
    server = await startServerProcess(env);
    await server.ready();
    // The commands go through the running server, which holds the embedded folder.
    const registered = await registerAppService(env, server.url);
    hookId = registered.hookId;
    appEnv = { ...registered.env, DATA_DIR: join(dir, 'app') };
    app = await startAppService(appEnv);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([app?.stop(), server?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('syncs a sign-up, serves its profile and items, refuses it after logout, and keeps its data across a restart', async () => {
    const user = await signUp();
    const { access_token } = await signIn(user.email);
    await until(() => me(access_token), (r) => r.status === 200, 5_000);
    expect((await me(access_token)).body.user).toMatchObject({ id: user.id, email: user.email });
    expect((await call(`${app.url}/items`, { token: access_token, body: { title: 'kept' } })).status).toBe(201);

    expect(await app.stop()).toBe(0);
    app = await startAppService(appEnv);
    expect((await call(`${app.url}/items`, { token: access_token })).body.items).toEqual([expect.objectContaining({ title: 'kept' })]);

    expect((await call(`${server.url}/api/logout`, { method: 'POST', token: access_token })).status).toBe(200);
    await until(() => me(access_token), (r) => r.status === 401, 5_000);
    expect((await me(access_token)).body).toMatchObject({ error: 'session_revoked' });
  });

  it('empties the list only for a token signed in with a second factor (aal2): a password alone gets insufficient_user_authentication', async () => {
    const user = await signUp();
    const { access_token: passwordOnly } = await signIn(user.email);
    await until(() => me(passwordOnly), (r) => r.status === 200, 5_000);
    const refused = await call(`${app.url}/items`, { method: 'DELETE', token: passwordOnly });
    expect(refused).toMatchObject({ status: 401, body: { error: 'insufficient_user_authentication' } });

    const setup = await call(`${server.url}/api/me/mfa/totp`, { token: passwordOnly, body: { password: GOOD_PASSWORD } });
    const app2fa = new TOTP({ secret: Secret.fromBase32(setup.body.secret), algorithm: 'SHA1', digits: 6, period: 30 });
    expect((await call(`${server.url}/api/me/mfa/totp/confirm`, { token: passwordOnly, body: { code: app2fa.generate() } })).status).toBe(200);
    const first = await call(`${server.url}/api/signin`, { body: { email: user.email, password: GOOD_PASSWORD } });
    expect(first).toMatchObject({ status: 403, body: { error: 'mfa_required' } });
    // The confirmation took this step's code: the next step's, within the window, signs in.
    const second = await call(`${server.url}/api/signin/mfa`, { body: { mfa_token: first.body.mfa_token, code: app2fa.generate({ timestamp: Date.now() + 30_000 }) } });
    expect(second.status).toBe(200);
    expect((await call(`${app.url}/items`, { token: second.body.access_token, body: { title: 'gone soon' } })).status).toBe(201);
    expect(await call(`${app.url}/items`, { method: 'DELETE', token: second.body.access_token })).toMatchObject({ status: 200, body: { deleted: 1 } });
  });

  it("a replayed dead user.created, once the user's user.deleted was delivered, does not bring the user back", async () => {
    // The app is down for the whole of WEBHOOK_RETRY_FOR: the sign-up's delivery dies.
    expect(await app.stop()).toBe(0);
    const ghost = await signUp();
    type Delivery = { id: number; endpoint_id: string; event_type: string; status: string };
    const deliveries = async () => (json(await latchkey(env, ['webhooks', 'deliveries', '--json'])) as Delivery[]).filter((d) => d.endpoint_id === hookId);
    const dead = await until(deliveries, (rows) => rows.some((d) => d.event_type === 'user.created' && d.status === 'dead'), 30_000);
    const created = dead.find((d) => d.event_type === 'user.created' && d.status === 'dead')!;

    // Back up; the user is deleted, and that event (no longer behind a pending one) is delivered.
    app = await startAppService(appEnv);
    json(await latchkey(env, ['users', 'delete', ghost.id, '--yes', '--json']));
    await until(deliveries, (rows) => rows.some((d) => d.event_type === 'user.deleted' && d.status === 'delivered' && d.id > created.id), 15_000);

    // The operator replays the dead user.created: delivered, answered, and the user stays deleted.
    expect(json(await latchkey(env, ['webhooks', 'replay', String(created.id), '--json']))).toEqual({ replayed: 1 });
    await until(deliveries, (rows) => rows.find((d) => d.id === created.id)?.status === 'delivered', 15_000);
    // The app's own embedded database, read once the app has let go of it.
    expect(await app.stop()).toBe(0);
    const own = await PGlite.create(appEnv.DATA_DIR!);
    try {
      expect((await own.query('SELECT id FROM users WHERE id = $1', [ghost.id])).rows).toEqual([]);
    } finally {
      await own.close();
    }
  }, 90_000);
});
