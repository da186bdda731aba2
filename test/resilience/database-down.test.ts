import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOOD_PASSWORD, signUp, startTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

describe('with the database gone', () => {
  it('answers 503 database_unavailable, and /readyz says not ready, while /healthz stays alive', async () => {
    const user = await signUp(t);
    await t.deps.database.close();

    const signin = await t.inject({ method: 'POST', url: '/api/signin', payload: { email: user.email, password: GOOD_PASSWORD } });
    expect(signin.statusCode).toBe(503);
    expect(signin.json()).toEqual({ error: 'database_unavailable', message: expect.any(String), request_id: expect.any(String) });

    const ready = await t.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().error).toBe('database_unavailable');
    expect((await t.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});
