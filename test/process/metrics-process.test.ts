import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { readSample, scrape } from '../helpers/metrics.js';
import { freePort } from '../helpers/services.js';
import { entry, startServerProcess } from '../helpers/server-process.js';
import { describeUnless, NO_POSTGRES } from '../helpers/skip.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const TOKEN = 'metrics-token-for-the-process-test';
let dataDir: string;
let database: TestDatabase;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'latchkey-metrics-'));
  database = await createTestDatabase();
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
  await database.drop();
});

async function until<T>(what: string, attempt: () => Promise<T | undefined>, output: () => string): Promise<T> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      const value = await attempt();
      if (value !== undefined) return value;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not happen:\n${output()}`);
}

describe('the metrics listener of a server process', () => {
  it('logs where it listens, as the API\'s listener does', { timeout: 120_000 }, async () => {
    const metricsPort = await freePort();
    const env: Record<string, string> = { DATA_DIR: join(dataDir, 'one'), SECRET_KEY: database.secretKey, METRICS_PORT: String(metricsPort), METRICS_HOST: '127.0.0.1', LOG_LEVEL: 'info' };
    if (database.url) env.DATABASE_URL = database.url;
    const server = await startServerProcess(env);
    try {
      await server.ready();
      expect(server.output()).toContain(`listening at http://127.0.0.1:${server.port}`);
      expect(server.output()).toContain(`Metrics listening at http://127.0.0.1:${metricsPort}/metrics`);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});

// Two server processes on PostgreSQL: their supervisor serves METRICS_PORT with their counters summed. (Embedded, the
// one server process serves it as in metrics.test.ts.)
describeUnless(NO_POSTGRES)('metrics of a cluster of server processes', () => {
  it('are served by the supervisor, summed over WORKERS, until it stops', { timeout: 120_000 }, async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, entry('main'), {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        LOG_LEVEL: 'info',
        PORT: String(port),
        HOST: '127.0.0.1',
        DATA_DIR: dataDir,
        SECRET_KEY: database.secretKey,
        METRICS_PORT: String(metricsPort),
        METRICS_HOST: '0.0.0.0',
        METRICS_TOKEN: TOKEN,
        DATABASE_URL: database.url!,
        WORKERS: '2',
        DATABASE_POOL_SIZE: '3',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const base = `http://127.0.0.1:${port}`;
    const metrics = `http://127.0.0.1:${metricsPort}`;
    try {
      await until('ready', async () => ((await fetch(`${base}/readyz`)).ok ? true : undefined), () => output);
      expect((await fetch(`${metrics}/metrics`)).status).toBe(401);
      // Said once, by the supervisor that serves it.
      expect(output.split(`Metrics listening at http://0.0.0.0:${metricsPort}/metrics`)).toHaveLength(2);

      const attempts = 6;
      for (let i = 0; i < attempts; i++) {
        // A new connection each time: the supervisor hands them to its processes in turn.
        const res = await fetch(`${base}/api/signin`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', connection: 'close' },
          body: JSON.stringify({ email: `nobody.${i}@example.com`, password: 'not a password of anyone' }),
        });
        expect(res.status).toBe(401);
      }
      // Every process answers once it is up: a scrape during a process's start fails, and is tried again.
      const text = await until('a whole scrape', () => scrape(metrics, TOKEN), () => output);
      expect(readSample(text, 'latchkey_signin_attempts_total', { outcome: 'invalid_credentials' })).toBe(attempts);
      expect(readSample(text, 'latchkey_http_request_duration_seconds_count', { route: '/api/signin', status_code: '401' })).toBe(attempts);
      expect(readSample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
      // Both processes answered: their pools' sizes add up.
      expect(readSample(text, 'latchkey_db_pool_max_connections')).toBe(6);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    await expect(fetch(`${metrics}/metrics`)).rejects.toThrow();
  });
});
