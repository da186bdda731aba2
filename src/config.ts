import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { parseDuration } from './duration.js';

export const JWT_ALGORITHMS = ['ES256', 'EdDSA', 'RS256', 'HS256'] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Durations are given as seconds (`900`) or with a unit (`30s`, `15m`, `12h`, `7d`); stored in seconds. */
const duration = (fallback: string, min = 1) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      const seconds = parseDuration(value);
      if (seconds === undefined || seconds < min) {
        const kind = min > 0 ? 'a positive duration' : 'a duration';
        ctx.addIssue({ code: 'custom', message: `expected ${kind} such as 900, 15m or 7d, got "${value}"` });
        return z.NEVER;
      }
      return seconds;
    });

const integer = (fallback: number, min: number, max: number) =>
  z
    .string()
    .default(String(fallback))
    .transform((value, ctx) => {
      const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
      if (!Number.isSafeInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `expected a whole number from ${min} to ${max}, got "${value}"` });
        return z.NEVER;
      }
      return n;
    });

const boolean = (fallback: boolean) =>
  z
    .string()
    .default(String(fallback))
    .transform((value, ctx) => {
      const v = value.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(v)) return true;
      if (['false', '0', 'no', 'off'].includes(v)) return false;
      ctx.addIssue({ code: 'custom', message: `expected true or false, got "${value}"` });
      return z.NEVER;
    });

const url = (protocols: string[], what: string) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `expected ${what}` },
  );

/** `N/duration`: at most N within the duration, such as `30/1m` or `3/1h`. */
const rate = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      const match = /^(\d+)\s*\/\s*(\S+)$/.exec(value.trim());
      const seconds = match ? parseDuration(match[2]!) : undefined;
      const points = match ? Number(match[1]) : 0;
      if (!match || seconds === undefined || seconds <= 0 || points < 1) {
        ctx.addIssue({ code: 'custom', message: `expected a count per duration such as 30/1m or 3/1h, got "${value}"` });
        return z.NEVER;
      }
      return { points, seconds };
    });

/** `false`, `true`, a number of proxy hops, or a comma-separated list of proxy addresses or CIDR ranges. */
const trustProxy = z
  .string()
  .default('false')
  .transform((value): boolean | number | string[] => {
    const v = value.trim().toLowerCase();
    if (v === 'false' || v === '') return false;
    if (v === 'true') return true;
    if (/^\d+$/.test(v)) return Number(v);
    return v.split(',').map((s) => s.trim()).filter(Boolean);
  });

const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

const envSchema = z.object({
  NODE_ENV: z.string().default('development'),
  PORT: integer(5001, 0, 65535),
  HOST: z.string().min(1).default('0.0.0.0'),
  PUBLIC_URL: optional(url(['http:', 'https:'], 'an http:// or https:// URL')),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: optional(url(['postgres:', 'postgresql:'], 'a postgres:// or postgresql:// connection string')),
  DATABASE_POOL_SIZE: integer(10, 1, 500),
  MIGRATE_ON_START: boolean(true),
  WORKERS: optional(z.string().regex(/^(auto|[1-9]\d*)$/, { message: 'expected auto or a whole number of processes' })),
  JWT_ALGORITHM: z.enum(JWT_ALGORITHMS, { message: `expected one of ${JWT_ALGORITHMS.join(', ')}` }).default('ES256'),
  JWT_SECRET_KEY: optional(z.string()),
  JWT_ISSUER: optional(z.string().min(1)),
  JWT_AUDIENCE: z.string().min(1).default('latchkey'),
  SECRET_KEY: optional(z.string()),
  KEY_ROTATION_INTERVAL: duration('90d', 0),
  ACCESS_TOKEN_TTL: duration('15m'),
  REFRESH_TOKEN_TTL: duration('7d'),
  SESSION_MAX_AGE: duration('30d'),
  RESET_TOKEN_TTL: duration('1h'),
  REFRESH_REUSE_INTERVAL: duration('10s', 0),
  REDIS_URL: optional(url(['redis:', 'rediss:'], 'a redis:// or rediss:// URL')),
  REDIS_KEY_PREFIX: z.string().default('latchkey:'),
  TRUST_PROXY: trustProxy,
  CORS_ORIGINS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean)),
  RATE_LIMIT_SIGNIN: rate('30/1m'),
  RATE_LIMIT_SIGNUP: rate('20/1h'),
  RATE_LIMIT_SIGNUP_EMAIL: rate('5/1h'),
  RATE_LIMIT_SIGNIN_GLOBAL: rate('300/1s'),
  RATE_LIMIT_SIGNUP_GLOBAL: rate('100/1s'),
  RATE_LIMIT_REFRESH: rate('120/1m'),
  RATE_LIMIT_FORGOT: rate('20/1h'),
  RATE_LIMIT_RESET: rate('20/1h'),
  RATE_LIMIT_RESET_TOKEN: rate('10/1h'),
  RESET_MAIL_LIMIT: rate('3/1h'),
  RESET_MAIL_ACCOUNT_LIMIT: rate('10/1h'),
  RATE_LIMIT_IPV6_PREFIX: integer(64, 32, 128),
  LOCKOUT_THRESHOLD: integer(5, 1, 1000),
  LOCKOUT_DURATION: duration('1m'),
  LOCKOUT_MAX_DURATION: duration('1d'),
  AUDIT_RETENTION: duration('90d'),
  HIBP_URL: optional(url(['http:', 'https:'], 'an http:// or https:// URL')),
  HIBP_TIMEOUT: integer(1500, 50, 30000),
  MAIL_RETRY_MAX_DELAY: duration('5m'),
  SMTP_URL: optional(url(['smtp:', 'smtps:'], 'an smtp:// or smtps:// URL')),
  MAIL_FROM: z.string().min(3).default('no-reply@localhost'),
  PASSWORD_MIN_LENGTH: integer(8, 8, 64),
  ARGON2_MEMORY_KIB: integer(19456, 8192, 4194304),
  ARGON2_TIME_COST: integer(2, 1, 20),
  ARGON2_PARALLELISM: integer(1, 1, 16),
  PASSWORD_HASH_CONCURRENCY: optional(z.string().regex(/^(auto|[1-9]\d*)$/, { message: 'expected auto or a whole number' })),
  PASSWORD_HASH_QUEUE: integer(32, 0, 100000),
  UV_THREADPOOL_SIZE: integer(4, 1, 1024),
  BODY_LIMIT: integer(16384, 1024, 1048576),
  REQUEST_TIMEOUT: duration('30s'),
  HEADERS_TIMEOUT: duration('10s'),
  KEEP_ALIVE_TIMEOUT: duration('5s'),
  MAX_CONNECTIONS: integer(1000, 1, 1000000),
  PURGE_INTERVAL: duration('5m'),
  LOG_REQUESTS: boolean(false),
  LOG_LEVEL: z.enum(LOG_LEVELS, { message: `expected one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  SHUTDOWN_TIMEOUT: duration('10s'),
  METRICS_PORT: optional(
    z
      .string()
      .regex(/^\d+$/, { message: 'expected a port number from 1 to 65535' })
      .transform(Number)
      .refine((n) => n >= 1 && n <= 65535, { message: 'expected a port number from 1 to 65535' }),
  ),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  METRICS_TOKEN: optional(z.string().min(16, { message: 'expected at least 16 characters (try `openssl rand -hex 32`)' })),
});

export interface Config {
  readonly env: string;
  readonly port: number;
  readonly host: string;
  readonly publicUrl: string;
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  readonly databasePoolSize: number;
  readonly migrateOnStart: boolean;
  /** Server processes sharing the port (node:cluster); 1 runs in this process alone. */
  readonly workers: number;
  readonly jwt: {
    readonly algorithm: JwtAlgorithm;
    readonly secretKey: string | undefined;
    readonly issuer: string;
    readonly audience: string;
  };
  /** Encrypts the private signing keys at rest; unset: generated into DATA_DIR/secret-key (deps). */
  readonly secretKey: string | undefined;
  /** Seconds between automatic signing key rotations; 0 turns them off. */
  readonly keyRotationInterval: number;
  /** All lifetimes in seconds. */
  readonly ttl: {
    readonly accessToken: number;
    readonly refreshToken: number;
    readonly sessionMaxAge: number;
    readonly resetToken: number;
    readonly refreshReuseInterval: number;
  };
  readonly mail: { readonly smtpUrl: string | undefined; readonly from: string; readonly retryMaxDelay: number };
  readonly redis: { readonly url: string | undefined; readonly keyPrefix: string };
  /** Fastify's trustProxy: which proxies' X-Forwarded-For is believed. */
  readonly trustProxy: boolean | number | string[];
  readonly corsOrigins: readonly string[];
  readonly rateLimits: Readonly<Record<RateLimitName, RateLimit>>;
  /** IPv6 clients are counted by this prefix of their address (one holder usually has a whole /64). */
  readonly ipv6Prefix: number;
  readonly lockout: { readonly threshold: number; readonly duration: number; readonly maxDuration: number };
  readonly auditRetention: number;
  readonly hibp: { readonly url: string | undefined; readonly timeoutMs: number };
  readonly password: {
    readonly minLength: number;
    readonly maxLength: number;
    readonly argon2: { readonly memoryCost: number; readonly timeCost: number; readonly parallelism: number };
    /** Hashes running at once, and how many more may wait before `server_busy`. */
    readonly hashing: { readonly concurrency: number; readonly queue: number };
  };
  readonly bodyLimit: number;
  /** Seconds to receive a whole request, and its headers; an idle keep-alive connection's life; open connections per process. */
  readonly connections: { readonly requestTimeout: number; readonly headersTimeout: number; readonly keepAliveTimeout: number; readonly max: number };
  /** Seconds between two purges of spent tokens, ended sessions and sent emails. */
  readonly purgeInterval: number;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  /** One info line per request (method, redacted URL, address, status, time). */
  readonly logRequests: boolean;
  /** Seconds a stop waits for requests in flight before it closes their connections. */
  readonly shutdownTimeout: number;
  /** Prometheus metrics on a listener of their own; off while `port` is unset. `token`: a bearer token it requires. */
  readonly metrics: { readonly port: number | undefined; readonly host: string; readonly token: string | undefined };
}

export interface RateLimit {
  readonly points: number;
  readonly seconds: number;
}

export type RateLimitName =
  | 'signin'
  | 'signup'
  | 'signupEmail'
  | 'refresh'
  | 'forgot'
  | 'reset'
  | 'resetToken'
  | 'resetMail'
  | 'resetMailAccount'
  | 'signinGlobal'
  | 'signupGlobal';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Longest password accepted, in characters after NFKC normalisation. */
export const PASSWORD_MAX_LENGTH = 256;

/** Parses the environment once; throws a ConfigError listing every problem. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  // Each variable on its own, so that the checks across variables below run even when another is wrong:
  // every problem is listed in one go.
  const parsed: Partial<Env> = {};
  const problems: string[] = [];
  for (const [name, schema] of Object.entries(envSchema.shape) as [keyof Env, z.ZodType][]) {
    const result = schema.safeParse(env[name]);
    if (result.success) (parsed as Record<string, unknown>)[name] = result.data;
    else problems.push(...result.error.issues.map((issue) => `${name}: ${issue.message}`));
  }
  const workers = crossFieldProblems(parsed, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  const e = parsed as Env;

  const publicUrl = (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, '');
  const config: Config = {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    publicUrl,
    dataDir: e.DATA_DIR,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    migrateOnStart: e.MIGRATE_ON_START,
    workers,
    jwt: {
      algorithm: e.JWT_ALGORITHM,
      secretKey: e.JWT_SECRET_KEY,
      issuer: e.JWT_ISSUER ?? publicUrl,
      audience: e.JWT_AUDIENCE,
    },
    secretKey: e.SECRET_KEY,
    keyRotationInterval: e.KEY_ROTATION_INTERVAL,
    ttl: {
      accessToken: e.ACCESS_TOKEN_TTL,
      refreshToken: e.REFRESH_TOKEN_TTL,
      sessionMaxAge: e.SESSION_MAX_AGE,
      resetToken: e.RESET_TOKEN_TTL,
      refreshReuseInterval: e.REFRESH_REUSE_INTERVAL,
    },
    mail: { smtpUrl: e.SMTP_URL, from: e.MAIL_FROM, retryMaxDelay: e.MAIL_RETRY_MAX_DELAY },
    redis: { url: e.REDIS_URL, keyPrefix: e.REDIS_KEY_PREFIX },
    trustProxy: e.TRUST_PROXY,
    corsOrigins: e.CORS_ORIGINS,
    rateLimits: {
      signin: e.RATE_LIMIT_SIGNIN,
      signup: e.RATE_LIMIT_SIGNUP,
      signupEmail: e.RATE_LIMIT_SIGNUP_EMAIL,
      refresh: e.RATE_LIMIT_REFRESH,
      forgot: e.RATE_LIMIT_FORGOT,
      reset: e.RATE_LIMIT_RESET,
      resetToken: e.RATE_LIMIT_RESET_TOKEN,
      resetMail: e.RESET_MAIL_LIMIT,
      resetMailAccount: e.RESET_MAIL_ACCOUNT_LIMIT,
      signinGlobal: e.RATE_LIMIT_SIGNIN_GLOBAL,
      signupGlobal: e.RATE_LIMIT_SIGNUP_GLOBAL,
    },
    ipv6Prefix: e.RATE_LIMIT_IPV6_PREFIX,
    lockout: { threshold: e.LOCKOUT_THRESHOLD, duration: e.LOCKOUT_DURATION, maxDuration: e.LOCKOUT_MAX_DURATION },
    auditRetention: e.AUDIT_RETENTION,
    hibp: { url: e.HIBP_URL?.replace(/\/+$/, ''), timeoutMs: e.HIBP_TIMEOUT },
    password: {
      minLength: e.PASSWORD_MIN_LENGTH,
      maxLength: PASSWORD_MAX_LENGTH,
      argon2: { memoryCost: e.ARGON2_MEMORY_KIB, timeCost: e.ARGON2_TIME_COST, parallelism: e.ARGON2_PARALLELISM },
      hashing: {
        concurrency:
          e.PASSWORD_HASH_CONCURRENCY === undefined || e.PASSWORD_HASH_CONCURRENCY === 'auto'
            ? autoHashConcurrency(e.UV_THREADPOOL_SIZE, !e.DATABASE_URL)
            : Number(e.PASSWORD_HASH_CONCURRENCY),
        queue: e.PASSWORD_HASH_QUEUE,
      },
    },
    bodyLimit: e.BODY_LIMIT,
    connections: {
      requestTimeout: e.REQUEST_TIMEOUT,
      headersTimeout: e.HEADERS_TIMEOUT,
      keepAliveTimeout: e.KEEP_ALIVE_TIMEOUT,
      max: e.MAX_CONNECTIONS,
    },
    purgeInterval: e.PURGE_INTERVAL,
    logLevel: e.LOG_LEVEL,
    logRequests: e.LOG_REQUESTS,
    shutdownTimeout: e.SHUTDOWN_TIMEOUT,
    metrics: { port: e.METRICS_PORT, host: e.METRICS_HOST, token: e.METRICS_TOKEN },
  };
  return deepFreeze(config);
}

type Env = z.output<typeof envSchema>;

/** Problems that involve several variables, checked on those that parsed; returns the number of processes. */
function crossFieldProblems(e: Partial<Env>, problems: string[]): number {
  if (e.JWT_ALGORITHM === 'HS256') {
    if (e.JWT_SECRET_KEY === undefined) problems.push('JWT_SECRET_KEY: required when JWT_ALGORITHM is HS256');
    else if (Buffer.byteLength(e.JWT_SECRET_KEY, 'utf8') < 32)
      problems.push('JWT_SECRET_KEY: must be at least 32 bytes long (try `openssl rand -hex 32`)');
  } else if (e.JWT_ALGORITHM !== undefined && e.JWT_SECRET_KEY !== undefined) {
    problems.push(
      `JWT_SECRET_KEY: only used with JWT_ALGORITHM=HS256, but JWT_ALGORITHM is ${e.JWT_ALGORITHM}; remove it or set JWT_ALGORITHM=HS256`,
    );
  }
  if (e.SECRET_KEY !== undefined && Buffer.byteLength(e.SECRET_KEY, 'utf8') < 32)
    problems.push('SECRET_KEY: must be at least 32 bytes long (try `openssl rand -base64 32`)');
  // The embedded engine lives inside one process; on PostgreSQL, `auto` (the default) is one process per core.
  const workers =
    e.WORKERS === 'auto' || (e.WORKERS === undefined && e.DATABASE_URL) ? autoWorkers(e.DATABASE_URL) : Number(e.WORKERS ?? 1);
  if (workers > 1 && !e.DATABASE_URL)
    problems.push('WORKERS: the embedded database serves one process only; set DATABASE_URL to run several');
  if (e.SESSION_MAX_AGE !== undefined && e.ACCESS_TOKEN_TTL !== undefined && e.SESSION_MAX_AGE < e.ACCESS_TOKEN_TTL)
    problems.push('SESSION_MAX_AGE: must be at least ACCESS_TOKEN_TTL');
  if (e.HEADERS_TIMEOUT !== undefined && e.REQUEST_TIMEOUT !== undefined && e.HEADERS_TIMEOUT > e.REQUEST_TIMEOUT)
    problems.push('HEADERS_TIMEOUT: must be at most REQUEST_TIMEOUT (the headers are part of the request)');
  if (e.METRICS_PORT === undefined && e.METRICS_TOKEN !== undefined)
    problems.push('METRICS_TOKEN: only used with METRICS_PORT; set METRICS_PORT or remove it');
  if (e.METRICS_PORT !== undefined && e.METRICS_PORT === e.PORT) problems.push('METRICS_PORT: must differ from PORT');
  // Beyond loopback, whoever reaches the port could read the metrics: a token is required there.
  if (e.METRICS_PORT !== undefined && e.METRICS_HOST !== undefined && !isLoopback(e.METRICS_HOST) && e.METRICS_TOKEN === undefined)
    problems.push(`METRICS_TOKEN: required when METRICS_HOST (${e.METRICS_HOST}) is not a loopback address`);
  return workers;
}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);

/**
 * One server process per core, but one core fewer when PostgreSQL runs on this same machine: measured
 * on 2 cores, a second process there only competes with PostgreSQL (npm run bench, README Performance).
 */
export function autoWorkers(databaseUrl: string | undefined): number {
  const cores = availableParallelism();
  const host = databaseUrl ? new URL(databaseUrl).hostname.replace(/^\[|\]$/g, '') : '';
  const local = ['', 'localhost', '127.0.0.1', '::1'].includes(host);
  return Math.max(1, local ? cores - 1 : cores);
}

/**
 * One hash per core, within libuv's pool (UV_THREADPOOL_SIZE). On PostgreSQL two threads of the pool stay
 * free, so that the driver's DNS look-ups never wait behind queued hashes; the embedded engine uses none.
 */
export function autoHashConcurrency(threadPoolSize: number, embedded: boolean): number {
  return Math.max(1, Math.min(availableParallelism(), embedded ? threadPoolSize : threadPoolSize - 2));
}

function deepFreeze<T extends object>(value: T): T {
  for (const v of Object.values(value)) if (v && typeof v === 'object') deepFreeze(v);
  return Object.freeze(value);
}
