import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/database.js';
import { freePort } from './helpers/services.js';

const ROOT = new URL('..', import.meta.url).pathname;
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

function start(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

async function waitUntilReady(port: number, proc: { exited: Promise<unknown>; output: () => string }) {
  const deadline = Date.now() + 20_000;
  let dead = false;
  void proc.exited.then(() => (dead = true));
  while (Date.now() < deadline && !dead) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not become ready:\n${proc.output()}`);
}

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

async function stop(child: ChildProcess, exited: Promise<number | null>) {
  child.kill('SIGTERM');
  return exited;
}

describe('the server process', () => {
  it('starts with no setup, serves the seed flow over real HTTP, and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const env: Record<string, string> = { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: join(dataDir, 'db') };
    // On PostgreSQL, two server processes behind one port, as WORKERS runs them.
    if (database.url) Object.assign(env, { DATABASE_URL: database.url, WORKERS: '2' });
    const proc = start(env);
    await waitUntilReady(port, proc);

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

    expect(await stop(proc.child, proc.exited)).toBe(0);
  });

  it.skipIf(!process.env.TEST_DATABASE_URL)('locks an account across its processes, without Redis', async () => {
    const port = await freePort();
    // The same DATA_DIR as the first test: its secret-key file encrypts the signing keys this database holds.
    const proc = start({ PORT: String(port), HOST: '127.0.0.1', DATA_DIR: join(dataDir, 'db'), DATABASE_URL: database.url!, WORKERS: '2', LOCKOUT_THRESHOLD: '3' });
    await waitUntilReady(port, proc);
    const email = `lock.${Date.now()}@example.com`;
    // A new connection for each request: the primary hands them to the two processes in turn.
    const signin = (password: string) => post(port, '/api/signin', { email, password });
    expect((await post(port, '/api/signup', { name: 'Lock', email, password: 'correct horse battery' })).status).toBe(201);
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await signin('a wrong password')).status);
    expect(codes).toEqual([401, 401, 401, 429]);
    expect((await signin('correct horse battery')).status).toBe(429);
    expect(await stop(proc.child, proc.exited)).toBe(0);
  });

  it('refuses to start on a wrong setting, naming it', async () => {
    const proc = start({ PORT: 'eighty', JWT_ALGORITHM: 'HS256', JWT_SECRET_KEY: 'short' });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain('PORT: expected a whole number');
    expect(proc.output()).not.toContain('    at ');
  });
});
