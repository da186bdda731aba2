import { availableParallelism } from 'node:os';
import { InvalidSetting } from './parsers.js';
import { SETTINGS, type Env, type Setting, type SettingName } from './settings.js';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Longest password accepted, in characters after NFKC normalisation. */
export const PASSWORD_MAX_LENGTH = 256;

export interface RateLimit {
  readonly points: number;
  readonly seconds: number;
}

type DeepReadonly<T> = T extends readonly (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** The parsed settings, shaped for the code that uses them; see SETTINGS for what each one means. */
export type Config = DeepReadonly<ReturnType<typeof toConfig>>;

/** Parses the environment once; throws a ConfigError listing every problem. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  // Each variable on its own, so that the checks across variables below run even when another is wrong:
  // every problem is listed in one go.
  const parsed: Partial<Record<SettingName, unknown>> = {};
  const problems: string[] = [];
  for (const [name, setting] of Object.entries(SETTINGS) as [SettingName, Setting<unknown>][]) {
    const value = env[name] ?? setting.default;
    // An empty value counts as unset where unset means something; otherwise it is parsed like any other.
    if (value === undefined || (value === '' && setting.default === undefined)) continue;
    try {
      parsed[name] = setting.parse(value);
    } catch (err) {
      if (!(err instanceof InvalidSetting)) throw err;
      problems.push(`${name}: ${err.message}`);
    }
  }
  const e = parsed as Partial<Env>;
  crossFieldProblems(e, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(toConfig(e as Env));
}

/** Where each variable goes in Config. Exported for the test that checks every setting is used. */
export function toConfig(e: Env) {
  const publicUrl = (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, '');
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    publicUrl,
    dataDir: e.DATA_DIR,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    migrateOnStart: e.MIGRATE_ON_START,
    /** Server processes sharing the port (node:cluster); 1 runs in this process alone. */
    workers: workersOf(e),
    jwt: {
      algorithm: e.JWT_ALGORITHM,
      secretKey: e.JWT_SECRET_KEY,
      issuer: e.JWT_ISSUER ?? publicUrl,
      audience: e.JWT_AUDIENCE,
    },
    /** Encrypts the private signing keys at rest; unset: generated into DATA_DIR/secret-key (deps). */
    secretKey: e.SECRET_KEY,
    /** Seconds between automatic signing key rotations; 0 turns them off. */
    keyRotationInterval: e.KEY_ROTATION_INTERVAL,
    /** All lifetimes in seconds. */
    ttl: {
      accessToken: e.ACCESS_TOKEN_TTL,
      refreshToken: e.REFRESH_TOKEN_TTL,
      sessionMaxAge: e.SESSION_MAX_AGE,
      resetToken: e.RESET_TOKEN_TTL,
      invitation: e.INVITATION_TTL,
      signinCode: e.SIGNIN_CODE_TTL,
      emailVerification: e.EMAIL_VERIFICATION_TTL,
      refreshReuseInterval: e.REFRESH_REUSE_INTERVAL,
    },
    /** `notifyNewSignIn`: email a user at a sign-in from a device and network new to their account. */
    mail: { smtpUrl: e.SMTP_URL, from: e.MAIL_FROM, retryMaxDelay: e.MAIL_RETRY_MAX_DELAY, notifyNewSignIn: e.NOTIFY_NEW_SIGN_IN },
    /** Whose the pages and emails say they are: the name, a logo (an https URL or a path of this origin), the accent colour (#rrggbb). */
    brand: { name: e.BRAND_NAME, logoUrl: e.BRAND_LOGO_URL, color: e.BRAND_COLOR },
    /** A sign-in to an unverified address is refused (`email_not_verified`). */
    requireEmailVerification: e.REQUIRE_EMAIL_VERIFICATION,
    /** Passkeys' relying party (its ID and the origins allowed), and the roles that must have a second factor. */
    mfa: { webauthn: relyingPartyOf(e, publicUrl), requiredForRoles: e.REQUIRE_MFA_FOR_ROLES },
    redis: { url: e.REDIS_URL, keyPrefix: e.REDIS_KEY_PREFIX },
    /** Fastify's trustProxy: which proxies' X-Forwarded-For is believed. */
    trustProxy: e.TRUST_PROXY,
    corsOrigins: e.CORS_ORIGINS,
    /** Origins the hosted pages may send a browser back to after sign-in, besides PUBLIC_URL's. */
    allowedRedirectOrigins: e.ALLOWED_REDIRECT_URLS,
    rateLimits: rateLimitsOf(e),
    /** IPv6 clients are counted by this prefix of their address (one holder usually has a whole /64). */
    ipv6Prefix: e.RATE_LIMIT_IPV6_PREFIX,
    /** The prefixes that group addresses into the wide networks whose shares of the global budgets are counted. */
    wideNetwork: { ipv4Prefix: e.RATE_LIMIT_NETWORK_IPV4_PREFIX, ipv6Prefix: e.RATE_LIMIT_NETWORK_IPV6_PREFIX },
    lockout: { threshold: e.LOCKOUT_THRESHOLD, duration: e.LOCKOUT_DURATION, maxDuration: e.LOCKOUT_MAX_DURATION },
    auditRetention: e.AUDIT_RETENTION,
    /**
     * Seconds a webhook delivery is retried before it is dead; seconds events are kept once delivered; deliveries
     * in flight per endpoint; the addresses and ranges never posted to.
     */
    webhooks: { retryFor: e.WEBHOOK_RETRY_FOR, eventRetention: e.EVENT_RETENTION, concurrency: e.WEBHOOK_CONCURRENCY, denyNetworks: e.WEBHOOK_DENY_NETWORKS },
    hibp: { url: e.HIBP_URL?.replace(/\/+$/, ''), timeoutMs: e.HIBP_TIMEOUT },
    password: {
      minLength: e.PASSWORD_MIN_LENGTH,
      maxLength: PASSWORD_MAX_LENGTH,
      /** Refuse passwords on the common-password list (password_too_common). */
      checkCommon: e.PASSWORD_CHECK_COMMON,
      argon2: { memoryCost: e.ARGON2_MEMORY_KIB, timeCost: e.ARGON2_TIME_COST, parallelism: e.ARGON2_PARALLELISM },
      /** Hashes running at once, and how many more may wait before `server_busy`. */
      hashing: {
        concurrency:
          e.PASSWORD_HASH_CONCURRENCY === undefined || e.PASSWORD_HASH_CONCURRENCY === 'auto'
            ? autoHashConcurrency(e.UV_THREADPOOL_SIZE, !e.DATABASE_URL)
            : Number(e.PASSWORD_HASH_CONCURRENCY),
        queue: e.PASSWORD_HASH_QUEUE,
        nice: e.PASSWORD_HASH_NICE,
      },
    },
    bodyLimit: e.BODY_LIMIT,
    /**
     * Seconds to receive a whole request, and its headers; an idle keep-alive connection's life; open connections per
     * process, and per client address (IPv6: per `ipv6Prefix`) in each process, 0 for no cap.
     */
    connections: {
      requestTimeout: e.REQUEST_TIMEOUT,
      headersTimeout: e.HEADERS_TIMEOUT,
      keepAliveTimeout: e.KEEP_ALIVE_TIMEOUT,
      max: e.MAX_CONNECTIONS,
      maxPerAddress: e.MAX_CONNECTIONS_PER_ADDRESS,
    },
    /** Seconds between two heartbeats of the revocation feed. */
    revocationFeed: { heartbeat: e.REVOCATION_FEED_HEARTBEAT },
    /** Seconds between two purges of spent tokens, ended sessions and sent emails. */
    purgeInterval: e.PURGE_INTERVAL,
    logLevel: e.LOG_LEVEL,
    /** One info line per request (method, redacted URL, address, status, time). */
    logRequests: e.LOG_REQUESTS,
    /** Seconds a stop waits for requests in flight before it closes their connections. */
    shutdownTimeout: e.SHUTDOWN_TIMEOUT,
    /** Prometheus metrics on a listener of their own; off while `port` is unset. `token`: a bearer token it requires. */
    metrics: { port: e.METRICS_PORT, host: e.METRICS_HOST, token: e.METRICS_TOKEN },
  };
}

/** Every rate limit, by the action it limits. */
function rateLimitsOf(e: Env) {
  return {
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
    signinNetwork: e.RATE_LIMIT_SIGNIN_NETWORK,
    signupNetwork: e.RATE_LIMIT_SIGNUP_NETWORK,
    lockedSignin: e.RATE_LIMIT_LOCKED_SIGNIN,
    signinCodeMail: e.SIGNIN_CODE_MAIL_LIMIT,
    verify: e.RATE_LIMIT_VERIFY,
    verifyCode: e.RATE_LIMIT_VERIFY_CODE,
    mfaCode: e.RATE_LIMIT_MFA,
    passkey: e.RATE_LIMIT_PASSKEY,
    verificationMail: e.VERIFICATION_MAIL_LIMIT,
  } satisfies Record<string, RateLimit>;
}

/** Problems that involve several variables, checked on those that parsed. */
function crossFieldProblems(e: Partial<Env>, problems: string[]): void {
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
  if (workersOf(e) > 1 && !e.DATABASE_URL)
    problems.push('WORKERS: the embedded database serves one process only; set DATABASE_URL to run several');
  if (e.SESSION_MAX_AGE !== undefined && e.ACCESS_TOKEN_TTL !== undefined && e.SESSION_MAX_AGE < e.ACCESS_TOKEN_TTL)
    problems.push('SESSION_MAX_AGE: must be at least ACCESS_TOKEN_TTL');
  if (e.HEADERS_TIMEOUT !== undefined && e.REQUEST_TIMEOUT !== undefined && e.HEADERS_TIMEOUT > e.REQUEST_TIMEOUT)
    problems.push('HEADERS_TIMEOUT: must be at most REQUEST_TIMEOUT (the headers are part of the request)');
  if (e.METRICS_PORT === undefined && e.METRICS_TOKEN !== undefined)
    problems.push('METRICS_TOKEN: only used with METRICS_PORT; set METRICS_PORT or remove it');
  if (e.METRICS_PORT !== undefined && e.METRICS_PORT === e.PORT) problems.push('METRICS_PORT: must differ from PORT');
  const rp = e.PORT === undefined ? undefined : relyingPartyOf(e as Env, (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''));
  // A browser refuses a relying party ID that is not the page's host or a suffix of it: no passkey would ever work.
  for (const origin of rp?.origins ?? []) {
    const host = new URL(origin).hostname;
    if (host !== rp!.rpId && !host.endsWith(`.${rp!.rpId}`)) problems.push(`WEBAUTHN_RP_ID: ${rp!.rpId} is neither the host of ${origin} nor a suffix of it`);
  }
  // Beyond loopback, whoever reaches the port could read the metrics: a token is required there.
  if (e.METRICS_PORT !== undefined && e.METRICS_HOST !== undefined && !isLoopback(e.METRICS_HOST) && e.METRICS_TOKEN === undefined)
    problems.push(`METRICS_TOKEN: required when METRICS_HOST (${e.METRICS_HOST}) is not a loopback address`);
}

function relyingPartyOf(e: Pick<Env, 'WEBAUTHN_RP_ID' | 'WEBAUTHN_ORIGINS'>, publicUrl: string) {
  const url = new URL(publicUrl);
  return { rpId: e.WEBAUTHN_RP_ID ?? url.hostname, origins: e.WEBAUTHN_ORIGINS?.length ? e.WEBAUTHN_ORIGINS : [url.origin] };
}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);

// The embedded engine lives inside one process; on PostgreSQL, `auto` (the default) is one process per core.
function workersOf(e: Pick<Partial<Env>, 'WORKERS' | 'DATABASE_URL'>): number {
  return e.WORKERS === 'auto' || (e.WORKERS === undefined && e.DATABASE_URL) ? autoWorkers(e.DATABASE_URL) : Number(e.WORKERS ?? 1);
}

/**
 * One server process per core, but one core fewer when PostgreSQL runs on this same machine: measured
 * on 2 cores, a second process there only competes with PostgreSQL (npm run bench; bench/results/README.md, WORKERS=auto).
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
