import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createBreachCheck, type BreachCheck } from './auth/passwords/breached-passwords.js';
import { openKeyRing, type KeyRing } from './auth/keys/key-ring.js';
import { signingKeySealer } from './auth/keys/key-store.js';
import { countPendingDeliveries, webhookSecretSealer } from './webhooks/endpoints.js';
import { createPasswordHasher, type PasswordHasher } from './auth/passwords/passwords.js';
import { createServiceClientEvents, type ServiceClientEvents } from './auth/service-clients/service-clients.js';
import { createRevocationList, loadRecentRevocations, type RevocationList } from './auth/sessions/revocations.js';
import type { AccessClaims } from './auth/sessions/access-tokens.js';
import { createThrottle, type Throttle } from './auth/throttle/throttle.js';
import { UserCache } from './core/user-cache.js';
import { OAuthClientCache } from './auth/oauth/client-cache.js';
import { oauthCodeKey } from './auth/oauth/codes.js';
import type { PublicUser } from './contracts/users.js';
import type { ListedSession } from './auth/sessions/own-sessions.js';
import { BoundedCache } from './core/cache.js';
import { systemClock, type Clock } from './core/clock.js';
import type { Config } from './config.js';
import { openDatabase, type Database, type Db } from './db/client.js';
import { createLogger } from './logging.js';
import { resolveSecretKey } from './secret-key.js';
import { secureDataDir } from './db/data-dir-modes.js';
import { createMailer, type Mailer } from './mail/mailer.js';
import { countOverdueRows, type OutboxWorker } from './mail/outbox.js';
import { noMetrics, type Metrics } from './core/metrics.js';
import { oneTimeCodeKey } from './core/one-time-tokens.js';
import { mfaKeys, type MfaKeys } from './auth/mfa/factors.js';
import { pageKey, type BrowserSession, type KnownBrowserSessions } from './auth/browser-sessions/browser-sessions.js';
import { upstreamKeys, type UpstreamKeys } from './auth/upstream/providers.js';
import type { MfaSummary } from './contracts/mfa.js';
import type { MetricsRegistry } from './metrics/registry.js';

/**
 * Everything the domain needs from the outside world, built in one place. Opening them starts no
 * background work (a command-line tool opens them too); a server then starts its jobs (src/jobs.ts).
 */
export interface Deps {
  readonly config: Config;
  readonly database: Database;
  readonly db: Db;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly mailer: Mailer;
  /** Told when a row is queued; a no-op until a server's outbox worker runs (src/jobs.ts). */
  readonly outbox: Pick<OutboxWorker, 'wake'>;
  /** The signing keys, kept in step with the database, and their rotation schedule. */
  readonly keys: KeyRing;
  readonly revocations: RevocationList;
  /** The AES key that seals webhook secrets at rest, derived from SECRET_KEY for this purpose alone. */
  readonly webhookSealer: Buffer;
  /** The HMAC key one-time codes (sign-in codes) are stored under, derived from SECRET_KEY for this purpose alone. */
  readonly oneTimeCodeKey: Buffer;
  /** The keys of second factors, derived from SECRET_KEY: TOTP secrets are sealed under one, recovery codes HMACed under the other. */
  readonly mfaKeys: MfaKeys;
  /** The HMAC key of Latchkey's own pages (their session cookie, their forms' tokens), derived from SECRET_KEY for this purpose alone. */
  readonly pageKey: Buffer;
  /** The AES key OAuth authorization codes are sealed under (src/auth/oauth/codes.ts), derived from SECRET_KEY for this purpose alone. */
  readonly oauthCodeKey: Buffer;
  /** The keys of sign-in through upstream providers, derived from SECRET_KEY: their client secrets, and the cookie of a flow in progress. */
  readonly upstreamKeys: UpstreamKeys;
  /** Told when a service client's secret changes or it is removed, here or (through NOTIFY) on another instance. */
  readonly serviceClientEvents: ServiceClientEvents;
  /** Access tokens that passed verification, until they expire (bounded). */
  readonly verifiedTokens: BoundedCache<AccessClaims>;
  /** Public profiles recently read, per session (bounded, short-lived, dropped on a change of their user). */
  readonly profiles: UserCache<PublicUser>;
  /** Users' live sessions recently read (bounded, short-lived, dropped on a change of their user). */
  readonly sessionLists: UserCache<ListedSession[]>;
  /** What users' accounts show of their second factors (`GET /api/me`), dropped on a change of their user. */
  readonly mfaSummaries: UserCache<MfaSummary>;
  /** Browser sessions recently read, for the authorization endpoint (src/auth/browser-sessions/browser-sessions.ts). */
  readonly knownSessions: KnownBrowserSessions;
  /** Registered OAuth clients recently read (bounded, short-lived, dropped on a change of their client). */
  readonly oauthClients: OAuthClientCache;
  readonly passwords: PasswordHasher;
  readonly throttle: Throttle;
  readonly breachCheck: BreachCheck | undefined;
  readonly redis: Redis | undefined;
  /** What the domain reports (sign-ins, refreshes, throttling, mail): a no-op unless METRICS_PORT is set. */
  readonly metrics: Metrics;
  /** The Prometheus registry behind `metrics` when it is on: the request hook (src/app.ts) and the listener (src/jobs.ts) use it. */
  readonly metricsRegistry: MetricsRegistry | undefined;
  /** Runs `stop` first when closing (last registered, first run): background work ends before what it uses. */
  onClose(stop: () => Promise<void> | void): void;
  /** Stops background work and closes every connection, in order. */
  close(): Promise<void>;
}

const CACHE_ENTRIES = 10_000;

export interface DepsOverrides {
  clock?: Clock;
  logger?: Logger;
  mailer?: Mailer;
  /** An in-memory embedded database starts from this image (see DatabaseOptions.embeddedImage). */
  embeddedImage?: Blob;
}

const REDIS_READY_TIMEOUT_MS = 3_000;

async function connectRedis(url: string, logger: Logger): Promise<Redis> {
  // A CommonJS package imported when needed: its module.exports is `default` (the bundle has no other names).
  const {
    default: { Redis },
  } = await import('ioredis');
  const redis = new Redis(url, {
    // Commands fail at once while Redis is away (the throttle falls back to memory) instead of queueing.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  let down = false;
  redis.on('error', (err: Error) => {
    if (!down) logger.warn({ err: err.message }, 'Redis unreachable: throttling falls back to this instance\'s memory');
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger.info('Redis is back: throttling is shared again');
    down = false;
  });
  // Serve only once Redis is ready: until then every counter would fall back to this instance's memory,
  // and the first requests of a fresh instance would escape the shared limits. Unreachable at start, the
  // server starts anyway (throttling in memory) rather than not at all.
  if (redis.status !== 'ready') {
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        redis.off('ready', done);
        resolve();
      };
      const timer = setTimeout(done, REDIS_READY_TIMEOUT_MS);
      redis.once('ready', done);
    });
  }
  return redis;
}

/** Opens the database (migrating it if set to), the keys, Redis and the mailer; starts no timer or worker. */
/** The keys derived from SECRET_KEY, each for one purpose alone. */
const keysFrom = (secret: string): Pick<Deps, 'webhookSealer' | 'oneTimeCodeKey' | 'mfaKeys' | 'pageKey' | 'upstreamKeys' | 'oauthCodeKey'> => ({
  webhookSealer: webhookSecretSealer(secret),
  oneTimeCodeKey: oneTimeCodeKey(secret),
  mfaKeys: mfaKeys(secret),
  pageKey: pageKey(secret),
  oauthCodeKey: oauthCodeKey(secret),
  upstreamKeys: upstreamKeys(secret),
});

export async function openDeps(config: Config, overrides: DepsOverrides = {}): Promise<Deps> {
  const clock = overrides.clock ?? systemClock;
  const logger = overrides.logger ?? createLogger(config);
  // The secret first: a folder that cannot be created stops the start naming SECRET_KEY (secret-key.ts).
  const secret = await resolveSecretKey(config, logger);
  // Before the database opens in it: an existing embedded folder left open to others is tightened.
  if (!config.databaseUrl) await secureDataDir(config.dataDir, logger);
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: config.databasePoolSize,
    embeddedImage: overrides.embeddedImage,
  });
  const stops: (() => Promise<void> | void)[] = [() => database.close()];
  const close = async () => {
    // Last started, first stopped: background work ends before the database it uses closes.
    while (stops.length > 0) await stops.pop()!();
  };
  try {
    if (config.migrateOnStart) await database.migrate();
    const keys = await openKeyRing({
      db: database.db,
      clock,
      logger,
      sealingKey: signingKeySealer(secret.value),
      secretSource: secret.source,
      algorithm: config.jwt.algorithm,
      hmacSecret: config.jwt.secretKey,
      accessTokenTtl: config.ttl.accessToken,
      rotationInterval: config.keyRotationInterval,
    });
    stops.push(() => keys.close());

    const revocations = createRevocationList(clock, config.ttl.accessToken);
    // On PostgreSQL the revocation listener loads them when it connects (src/jobs.ts).
    if (!config.databaseUrl) await loadRecentRevocations(database.db, clock, config.ttl.accessToken, revocations);

    const redis = config.redis.url ? await connectRedis(config.redis.url, logger) : undefined;
    if (redis) stops.push(() => void redis.disconnect());

    const mailer = overrides.mailer ?? await createMailer({ smtpUrl: config.mail.smtpUrl, from: config.mail.from, brand: config.brand.name, logBodies: config.env === 'development' }, logger);
    stops.push(() => mailer.close());

    const verifiedTokens = new BoundedCache<AccessClaims>(CACHE_ENTRIES, () => clock.now().getTime());
    const { profiles, sessionLists, mfaSummaries } = userCaches(clock);
    // prom-client is loaded only when metrics are on.
    const metricsRegistry =
      config.metrics.port === undefined
        ? undefined
        : (await import('./metrics/registry.js')).createMetricsRegistry({
            revocations,
            caches: { verified_tokens: verifiedTokens, profiles, session_lists: sessionLists },
            poolStats: database.poolStats,
            outboxOverdue: () => countOverdueRows(database.db, clock.now()),
            webhookBacklog: () => countPendingDeliveries(database.db),
          });
    const metrics = metricsRegistry ?? noMetrics;

    return {
      config,
      database,
      db: database.db,
      clock,
      logger,
      mailer,
      // Another process's worker finds the row at its next poll.
      outbox: { wake: () => {} },
      keys,
      revocations,
      ...keysFrom(secret.value),
      serviceClientEvents: createServiceClientEvents(),
      verifiedTokens,
      profiles,
      sessionLists,
      mfaSummaries,
      knownSessions: { cache: new UserCache<BrowserSession>(CACHE_ENTRIES, () => clock.now().getTime()), revocations },
      oauthClients: new OAuthClientCache(CACHE_ENTRIES, () => clock.now().getTime()),
      passwords: createPasswordHasher(config.password.argon2, config.password.hashing),
      throttle: createThrottle(config, redis, config.redis.keyPrefix, metrics),
      breachCheck: config.hibp.url ? createBreachCheck({ url: config.hibp.url, timeoutMs: config.hibp.timeoutMs }, logger) : undefined,
      redis,
      metrics,
      metricsRegistry,
      onClose: (stop) => void stops.push(stop),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** What each instance keeps in memory of recent users, each dropped on a change of its user (src/core/user-cache.ts). */
function userCaches(clock: Clock) {
  const now = () => clock.now().getTime();
  return {
    profiles: new UserCache<PublicUser>(CACHE_ENTRIES, now),
    sessionLists: new UserCache<ListedSession[]>(CACHE_ENTRIES, now),
    mfaSummaries: new UserCache<MfaSummary>(CACHE_ENTRIES, now),
  };
}
