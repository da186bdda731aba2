// The walk-through as a newcomer runs it: Latchkey and the app service each on their embedded database,
// no PostgreSQL anywhere. (The PostgreSQL pass runs e2e.test.ts, which goes further.)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { UNTHROTTLED } from '../../../test/helpers/app.js';
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
  const { signUp, signIn } = accounts(() => server.url);
  const me = (token: string) => call(`${app.url}/me`, { token });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'latchkey-app-embedded-'));
    const port = String(await freePort());
    const env = { ...UNTHROTTLED, DATA_DIR: join(dir, 'latchkey'), PORT: port, PUBLIC_URL: `http://127.0.0.1:${port}` };
    server = await startServerProcess(env);
    await server.ready();
    // The commands go through the running server, which holds the embedded folder.
    const registered = await registerAppService(env, server.url);
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
});
