import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';

/** The machine's Redis for tests that need one (CI sets TEST_REDIS_URL); unset, those tests are skipped. */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL;
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;

/** A key prefix of its own, so parallel test files never share throttling counters. */
export function uniqueRedisPrefix(): string {
  return `latchkey-test:${randomBytes(4).toString('hex')}:`;
}

export function hostAndPort(url: string): [string, number] {
  const u = new URL(url);
  const fallback = u.protocol.startsWith('redis') ? 6379 : u.protocol.startsWith('smtp') ? 25 : 5432;
  return [u.hostname, Number(u.port || fallback)];
}

/** A loopback port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
