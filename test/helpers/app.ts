import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect } from 'vitest';
import { Writable } from 'node:stream';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createServerDeps, type ServerDeps as Deps } from '../../src/jobs.js';
import { createLogger } from '../../src/logging.js';
import type { Clock } from '../../src/core/clock.js';
import { createTestClock, type TestClock } from './clock.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { startSmtpServer, type TestSmtpServer } from './smtp.js';

export const PUBLIC_URL = 'http://latchkey.test';
export const GOOD_PASSWORD = 'correct horse battery staple';

/**
 * Budgets no ordinary test reaches (they all come from one address, hence one network); the throttling
 * tests set their own.
 */
export const UNTHROTTLED: Record<string, string> = {
  RATE_LIMIT_SIGNIN: '100000/1m',
  RATE_LIMIT_SIGNUP: '100000/1m',
  RATE_LIMIT_SIGNIN_NETWORK: '100000/1m',
  RATE_LIMIT_SIGNUP_NETWORK: '100000/1m',
  RATE_LIMIT_SIGNUP_EMAIL: '100000/1m',
  RATE_LIMIT_REFRESH: '100000/1m',
  RATE_LIMIT_FORGOT: '100000/1m',
  RATE_LIMIT_RESET: '100000/1m',
  RATE_LIMIT_RESET_TOKEN: '100000/1m',
  RESET_MAIL_LIMIT: '100000/1m',
  RESET_MAIL_ACCOUNT_LIMIT: '100000/1m',
  RATE_LIMIT_LOCKED_SIGNIN: '100000/1m',
  RATE_LIMIT_VERIFY: '100000/1m',
  RATE_LIMIT_VERIFY_CODE: '100000/1m',
  RATE_LIMIT_MFA: '100000/1m',
  RATE_LIMIT_PASSKEY: '100000/1m',
  LOCKOUT_THRESHOLD: '1000',
};

/**
 * Cheap argon2id parameters for every test app: hashing cost is not what these tests are about, and at the
 * defaults (19 MiB, two passes) hashing is most of a sign-up's or sign-in's time. Not 8192/1 either: the
 * tests that upgrade an old hash make theirs with those, weaker still. Tests about the defaults set their own.
 */
export const CHEAP_HASHING: Record<string, string> = { ARGON2_MEMORY_KIB: '9216', ARGON2_TIME_COST: '1' };

export interface TestApp {
  app: App;
  deps: Deps;
  clock: TestClock;
  database: TestDatabase;
  /** Every log line the server wrote, as JSON text. */
  logs: string[];
  inject(opts: InjectOptions): Promise<LightMyRequestResponse>;
  /** Listens on a free loopback port; resolves with its base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  /** A clock tests can move (the default), or any other, such as the system clock for real-time tests. */
  clock?: TestClock;
  realClock?: Clock;
  /** Reuse a database (and embedded folder) across apps, as a restart does; it is then not dropped on close. */
  database?: TestDatabase;
  dataDir?: string;
  /** Runs before the app is ready, to add routes a test needs. */
  beforeReady?: (app: App) => void;
}

/** Latchkey on a fresh real database (PostgreSQL with TEST_DATABASE_URL, else embedded), driven through inject. */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const database = options.database ?? (await createTestDatabase({ migrated: true }));
  const clock = options.clock ?? createTestClock();
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const config = loadConfig({
    NODE_ENV: 'test',
    PUBLIC_URL,
    LOG_LEVEL: 'info',
    // Every request logged, so that the secrets check at close sees the most the server can log.
    LOG_REQUESTS: 'true',
    ...UNTHROTTLED,
    ...CHEAP_HASHING,
    DATA_DIR: options.dataDir ?? 'memory://',
    SECRET_KEY: database.secretKey,
    ...(database.url ? { DATABASE_URL: database.url } : {}),
    ...options.env,
  });
  const deps = await createServerDeps(config, {
    clock: options.realClock ?? clock,
    logger: createLogger(config, sink),
    outboxPollMs: 200,
    embeddedImage: database.image,
  });
  const app = await buildApp(deps);
  options.beforeReady?.(app);
  await app.ready();
  const secrets = new Secrets();
  for (const value of [config.jwt.secretKey, config.secretKey, config.mail.smtpUrl && new URL(config.mail.smtpUrl).password]) secrets.add(value);
  return {
    app,
    deps,
    clock,
    database,
    logs,
    async inject(opts) {
      secrets.fromRequest(opts);
      const res = await app.inject(opts);
      secrets.fromResponse(res);
      return res;
    },
    async listen() {
      await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.server.address() as { port: number };
      return `http://127.0.0.1:${port}`;
    },
    async close() {
      await app.close();
      await deps.close();
      if (!options.database) await database.drop();
      // Every test file ends with this check: no secret it sent or received is in any line the server logged.
      secrets.assertAbsentFrom(logs.join(''));
    },
  };
}

let counter = 0;
export function uniqueEmail(prefix = 'user'): string {
  counter += 1;
  return `${prefix}.${counter}.${randomBytes(3).toString('hex')}@example.com`;
}

export interface SignedUp {
  name: string;
  email: string;
  password: string;
  id: string;
}

export async function signUp(t: TestApp, fields: Partial<Omit<SignedUp, 'id'>> = {}): Promise<SignedUp> {
  const user = { name: 'Test User', email: uniqueEmail(), password: GOOD_PASSWORD, ...fields };
  const res = await t.inject({ method: 'POST', url: '/api/signup', payload: user });
  if (res.statusCode !== 201) throw new Error(`signup failed: ${res.statusCode} ${res.body}`);
  return { ...user, id: res.json().user.id };
}

export interface Tokens {
  access_token: string;
  refresh_token: string;
  expires_in: number;
}

export async function signIn(t: TestApp, email: string, password = GOOD_PASSWORD): Promise<Tokens> {
  const res = await t.inject({ method: 'POST', url: '/api/signin', payload: { email, password } });
  if (res.statusCode !== 200) throw new Error(`signin failed: ${res.statusCode} ${res.body}`);
  return res.json();
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The token answer of sign-in and refresh (src/contracts/tokens.ts) with its default lifetime, for toEqual. */
export const tokenAnswer = (message: string) => ({
  message,
  access_token: expect.any(String),
  refresh_token: expect.any(String),
  token_type: 'Bearer',
  expires_in: 900,
});

/** Stands for an object made later (in beforeAll): each read goes to it, once made. */
function late<T extends object>(made: () => T | undefined): T {
  return new Proxy({} as T, {
    get(_, key) {
      const target = made();
      if (!target) throw new Error(`read before beforeAll made it: ${String(key)}`);
      return Reflect.get(target, key);
    },
  });
}

/**
 * An app that mails through an SMTP server of this process, both started for the enclosing suite (in
 * beforeAll) and closed after it: `const { t, smtp } = useMailingApp()`, used inside tests.
 */
export function useMailingApp(env: Record<string, string> = {}): { t: TestApp; smtp: TestSmtpServer } {
  let t: TestApp | undefined;
  let smtp: TestSmtpServer | undefined;
  beforeAll(async () => {
    smtp = await startSmtpServer();
    t = await startTestApp({ env: { SMTP_URL: smtp.url, MAIL_FROM: 'latchkey@example.com', ...env } });
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });
  return { t: late(() => t), smtp: late(() => smtp) };
}

export function dashboard(t: TestApp, accessToken: string) {
  return t.inject({ method: 'GET', url: '/api/dashboard', headers: bearer(accessToken) });
}

export function refresh(t: TestApp, refreshToken: string) {
  return t.inject({ method: 'POST', url: '/api/refresh', headers: bearer(refreshToken) });
}

/** The secrets a test run handled (passwords, tokens, keys), to prove none reached the logs. */
class Secrets {
  private readonly seen = new Set<string>();

  add(value: unknown) {
    // Short values would match by chance (and the weak passwords tests send are refused anyway).
    if (typeof value === 'string' && value.length >= 12) this.seen.add(value);
  }

  fromRequest(opts: InjectOptions) {
    const payload = opts.payload;
    const body = typeof payload === 'string' ? tryJson(payload) : payload;
    if (body && typeof body === 'object') {
      const fields = body as Record<string, unknown>;
      this.add(fields.password);
      this.add(fields.refresh_token);
    }
    const token = /reset-password\/([^/?]+)/.exec(String(opts.url ?? ''))?.[1];
    this.add(token);
    const auth = (opts.headers as Record<string, string> | undefined)?.authorization;
    this.add(auth?.replace(/^Bearer\s+/i, ''));
  }

  fromResponse(res: LightMyRequestResponse) {
    const body = tryJson(res.body);
    if (body && typeof body === 'object') {
      this.add((body as Record<string, unknown>).access_token);
      this.add((body as Record<string, unknown>).refresh_token);
    }
  }

  assertAbsentFrom(logs: string) {
    const leaked = [...this.seen].filter((secret) => logs.includes(secret));
    if (leaked.length > 0) throw new Error(`${leaked.length} secret(s) found in the server log, e.g. ${leaked[0]!.slice(0, 6)}…`);
  }
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Two instances of Latchkey on one fresh database, sharing a clock, as behind a load balancer: started for the
 * enclosing suite (in beforeAll), closed and the database dropped after it. `const { a, b } = useTwoInstances()`.
 */
export function useTwoInstances(): { a: TestApp; b: TestApp } {
  let database: TestDatabase | undefined;
  let a: TestApp | undefined;
  let b: TestApp | undefined;
  beforeAll(async () => {
    database = await createTestDatabase({ migrated: true });
    const clock = createTestClock();
    a = await startTestApp({ database, clock });
    b = await startTestApp({ database, clock });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
  });
  return { a: late(() => a), b: late(() => b) };
}
