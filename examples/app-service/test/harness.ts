import { expect } from 'vitest';
import { GOOD_PASSWORD, uniqueEmail } from '../../../test/helpers/app.js';
import { json, latchkey } from '../../../test/helpers/cli.js';
import { startServerProcess } from '../../../test/helpers/server-process.js';
import { freePort } from '../../../test/helpers/services.js';
import { until } from '../../../test/helpers/webhook-receiver.js';

// Bodies of JSON answers, read field by field by the assertions.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export const USER_EVENTS = 'user.created,user.updated,user.password_changed,user.disabled,user.deleted';

/** One HTTP request with an optional JSON body and bearer token; the answer's status and parsed body. */
export async function call(url: string, init: { method?: string; body?: unknown; token?: string } = {}) {
  const res = await fetch(url, {
    method: init.method ?? (init.body ? 'POST' : 'GET'),
    headers: { ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) },
    body: init.body ? JSON.stringify(init.body) : undefined,
  });
  return { status: res.status, body: (await res.json().catch(() => null)) as Json };
}

/** Sign-ups and sign-ins on Latchkey's API. */
export function accounts(latchkeyUrl: () => string) {
  return {
    async signUp() {
      const email = uniqueEmail('app');
      const res = await call(`${latchkeyUrl()}/api/signup`, { body: { name: 'App User', email, password: GOOD_PASSWORD } });
      expect(res.status).toBe(201);
      return { email, id: res.body.user.id as string };
    },
    async signIn(email: string, password = GOOD_PASSWORD) {
      const res = await call(`${latchkeyUrl()}/api/signin`, { body: { email, password } });
      expect(res.status).toBe(200);
      return res.body as { access_token: string; refresh_token: string };
    },
  };
}

/** Waits until `ok` holds, then asserts it took less than `budgetMs`; resolves with the milliseconds it took. */
export async function within(budgetMs: number, ok: () => Promise<boolean>): Promise<number> {
  const start = performance.now();
  await until(ok, Boolean, budgetMs + 2_000);
  const elapsed = performance.now() - start;
  expect(await ok()).toBe(true);
  expect(elapsed).toBeLessThan(budgetMs);
  return elapsed;
}

/** The example as a process of its own, from its TypeScript sources; resolves once /readyz says it reached Latchkey. */
export async function startAppService(env: Record<string, string>) {
  const app = await startServerProcess(env, ['--import', 'tsx', 'examples/app-service/src/main.ts']);
  await app.ready();
  return app;
}

/**
 * What an operator does before starting the app service (its README's walk-through): a service client for
 * the revocation feed and the webhook endpoint, through Latchkey's command line. Resolves with the app's
 * environment (its port included) and the endpoint's id.
 */
export async function registerAppService(latchkeyEnv: Record<string, string>, latchkeyUrl: string) {
  const port = String(await freePort());
  const client = json(await latchkey(latchkeyEnv, ['services', 'create', 'app-service', '--scopes', 'revocations:read', '--json']));
  const hook = json(await latchkey(latchkeyEnv, ['webhooks', 'add', `http://127.0.0.1:${port}/sync_user`, '--events', USER_EVENTS, '--json']));
  const env: Record<string, string> = {
    PORT: port,
    LATCHKEY_URL: latchkeyUrl,
    LATCHKEY_CLIENT_ID: client.client_id,
    LATCHKEY_CLIENT_SECRET: client.client_secret,
    LATCHKEY_WEBHOOK_SECRET: hook.secret,
  };
  return { env, hookId: hook.id as string };
}
