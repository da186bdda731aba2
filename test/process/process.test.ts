import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { startServerProcess } from '../helpers/server-process.js';
import { freePort } from '../helpers/services.js';
import { itUnless, NO_POSTGRES } from '../helpers/skip.js';

let dataDir: string;
let database: TestDatabase;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'latchkey-process-'));
  database = await createTestDatabase();
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
  await database.drop();
});

function post(port: number, path: string, body: object): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'POST', agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('the server process', () => {
  it('starts with no setup, serves the seed flow over real HTTP, and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const env: Record<string, string> = { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: join(dataDir, 'db') };
    // On PostgreSQL, two server processes behind one port, as WORKERS runs them.
    if (database.url) Object.assign(env, { DATABASE_URL: database.url, WORKERS: '2' });
    const proc = await startServerProcess(env);
    await proc.ready();

    const base = `http://127.0.0.1:${port}`;
    const json = { 'content-type': 'application/json' };
    const signup = await fetch(`${base}/api/signup`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ name: 'Test User', email: 'test@example.com', password: 'correct horse battery' }),
    });
    expect(signup.status).toBe(201);
    const signin = await fetch(`${base}/api/signin`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ email: 'test@example.com', password: 'correct horse battery' }),
    });
    const tokens = (await signin.json()) as { access_token: string };
    const dash = await fetch(`${base}/api/dashboard`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(await dash.json()).toMatchObject({ message: 'Welcome Test User!' });

    expect(await proc.stop()).toBe(0);
  }, 60_000);

  itUnless(NO_POSTGRES)('locks an account across its processes, without Redis', async () => {
    const port = await freePort();
    // The same DATA_DIR as the first test: its secret-key file encrypts the signing keys this database holds.
    const proc = await startServerProcess({ PORT: String(port), DATA_DIR: join(dataDir, 'db'), DATABASE_URL: database.url!, WORKERS: '2', LOCKOUT_THRESHOLD: '3' });
    await proc.ready();
    const email = `lock.${Date.now()}@example.com`;
    // A new connection for each request: the primary hands them to the two processes in turn.
    const signin = (password: string) => post(port, '/api/signin', { email, password });
    expect((await post(port, '/api/signup', { name: 'Lock', email, password: 'correct horse battery' })).status).toBe(201);
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await signin('a wrong password')).status);
    expect(codes).toEqual([401, 401, 401, 429]);
    expect((await signin('correct horse battery')).status).toBe(429);
    expect(await proc.stop()).toBe(0);
  }, 60_000);

  it('refuses to start on a wrong setting, naming it', async () => {
    const proc = await startServerProcess({ PORT: 'eighty', JWT_ALGORITHM: 'HS256', JWT_SECRET_KEY: 'short' });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain('PORT: expected a whole number');
    expect(proc.output()).not.toContain('    at ');
  });
});
